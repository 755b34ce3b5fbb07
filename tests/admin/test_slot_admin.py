"""The slot list and the slot page in the admin."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.models import Job
from slots.models import Slot, TemplateImage
from tests.images import image_bytes

SLOT_LIST = "/admin/slots/slot/"


def slot_page(slot_id: str) -> str:
    return f"/admin/slots/slot/{slot_id}/change/"


def slot_form(slot: Slot, **changes: object) -> dict[str, object]:
    """The slot page's form as the browser would post it, with ``changes`` applied."""
    values = {
        "display_name": slot.display_name,
        "provider": slot.provider,
        "operation": slot.operation,
        "is_active": slot.is_active,
        "size_limit_mb": slot.size_limit_mb,
        "settings": json.dumps(slot.settings),
        "on_failure": slot.on_failure,
        "max_concurrent_jobs": slot.max_concurrent_jobs or "",
        **changes,
    }
    if not values.pop("is_active"):
        values.pop("is_active", None)  # an unticked checkbox is not sent at all
    else:
        values["is_active"] = "on"
    images = list(slot.template_images.all())
    values |= {
        "template_images-TOTAL_FORMS": str(len(images) + 1),
        "template_images-INITIAL_FORMS": str(len(images)),
        "template_images-MIN_NUM_FORMS": "0",
        "template_images-MAX_NUM_FORMS": "1000",
    }
    for index, image in enumerate(images):
        values[f"template_images-{index}-id"] = str(image.pk)
        values[f"template_images-{index}-slot"] = slot.pk
        values[f"template_images-{index}-role"] = image.role
    values[f"template_images-{len(images)}-slot"] = slot.pk
    return values


def new_template_image(role: str, upload: SimpleUploadedFile) -> dict[str, object]:
    """The inline's empty row, filled in (the slot has no template image yet)."""
    return {"template_images-0-role": role, "template_images-0-upload": upload}


def row_of(page: str, slot_id: str) -> str:
    rows = [row for row in re.findall(r"<tr.*?</tr>", page, re.S) if f">{slot_id}<" in row]
    assert len(rows) == 1, rows
    return rows[0]


def cell(row: str, column: str) -> str:
    match = re.search(rf'class="field-{column}[^"]*">(.*?)</t[dh]>', row, re.S)
    assert match, row
    return match.group(1)


def test_slot_list_shows_todays_done_and_failed_counts(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    make_job("slot-001")
    make_job("slot-001")
    make_job("slot-001", status="failed")
    make_job("slot-001", status="timeout")
    yesterday = make_job("slot-001", status="failed")
    Job.objects.filter(pk=yesterday.pk).update(started_at=timezone.now() - timedelta(days=2))

    row = row_of(staff.get(SLOT_LIST).content.decode(), "slot-001")

    assert cell(row, "done_today") == "2"
    assert cell(row, "failed_today") == "2"


def test_slot_list_shows_the_latest_results_thumbnail(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    make_job("slot-002")
    latest = make_job("slot-002")
    make_job("slot-002", status="failed")

    page = staff.get(SLOT_LIST).content.decode()

    row = row_of(page, "slot-002")
    assert f'src="/api/jobs/{latest.pk}/thumbnail"' in cell(row, "last_result")
    assert cell(row_of(page, "slot-003"), "last_result") == "—"


def test_slot_list_costs_the_same_queries_however_many_slots_have_jobs(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    make_job("slot-001")
    with CaptureQueriesContext(connection) as one_slot:
        staff.get(SLOT_LIST)
    for number in range(2, 16):
        make_job(f"slot-{number:03d}")
        make_job(f"slot-{number:03d}", status="failed")
    with CaptureQueriesContext(connection) as all_slots:
        response = staff.get(SLOT_LIST)

    assert response.status_code == 200
    assert len(all_slots) == len(one_slot)


def test_slots_cannot_be_added_or_deleted(staff: Client) -> None:
    assert staff.get("/admin/slots/slot/add/").status_code == 403
    assert staff.get("/admin/slots/slot/slot-001/delete/").status_code == 403
    assert "/admin/slots/slot/add/" not in staff.get(SLOT_LIST).content.decode()


def test_settings_are_shown_as_indented_json(staff: Client) -> None:
    page = html.unescape(staff.get(slot_page("slot-004")).content.decode())
    assert '{\n  "bits": 3\n}' in page


def test_slot_page_names_the_settings_its_provider_accepts(staff: Client) -> None:
    Slot.objects.filter(pk="slot-006").update(provider="gemini", operation="generate")

    gemini = html.unescape(staff.get(slot_page("slot-006")).content.decode())
    local = html.unescape(staff.get(slot_page("slot-004")).content.decode())

    assert "Google Gemini settings: prompt (required):" in gemini
    assert "max_attempts" in gemini
    assert "bits: Bits kept per colour channel by posterize (1 to 8, default 3)" in local
    assert "prompt (required)" not in local


def test_saving_the_slot_page_bumps_the_version_and_records_who(
    staff: Client, staff_user: object
) -> None:
    slot = Slot.objects.get(pk="slot-001")

    response = staff.post(slot_page(slot.pk), slot_form(slot, operation="sepia"))

    assert response.status_code == 302, response.content.decode()
    saved = Slot.objects.get(pk=slot.pk)
    assert (saved.operation, saved.version, saved.updated_by) == ("sepia", 2, staff_user)


def test_a_wrong_setting_is_refused_once_under_the_settings_naming_it(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-004")

    response = staff.post(slot_page(slot.pk), slot_form(slot, settings='{"bits": 99}'))

    page = html.unescape(response.content.decode())
    message = "Setting “bits”: bits must be a whole number from 1 to 8."
    assert page.count(message) == 1
    assert 'class="form-row errors field-settings"' in page
    assert Slot.objects.get(pk=slot.pk).settings == {"bits": 3}


def test_an_operation_the_provider_lacks_is_refused_on_the_operation(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-001")

    response = staff.post(slot_page(slot.pk), slot_form(slot, provider="gemini"))

    page = html.unescape(response.content.decode())
    assert page.count("Gemini has no operation “passthrough”; use “generate”.") == 1
    assert page.count("Setting “prompt”: The prompt is required for Gemini.") == 1
    assert 'class="form-row errors field-operation"' in page
    assert Slot.objects.get(pk=slot.pk).provider == "local"


def test_broken_json_is_refused_with_where_it_breaks(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-004")

    response = staff.post(slot_page(slot.pk), slot_form(slot, settings='{"bits": 3,}'))

    page = html.unescape(response.content.decode())
    assert "This is not valid JSON: " in page
    assert "(line 1, column 12)" in page
    # What staff typed stays in the textarea, so they can fix it.
    assert '{"bits": 3,}' in page


def test_a_template_image_is_uploaded_and_removed_with_its_file(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-005")
    upload = SimpleUploadedFile("overlay.png", image_bytes("PNG", (64, 48)), "image/png")
    form = slot_form(slot) | new_template_image("overlay", upload)

    assert staff.post(slot_page(slot.pk), form).status_code == 302
    image = TemplateImage.objects.get(slot=slot)
    assert (image.role, image.content_type) == ("overlay", "image/png")
    assert default_storage.exists(image.storage_name)
    page = staff.get(slot_page(slot.pk)).content.decode()
    assert f'src="/api/slots/slot-005/template-images/{image.pk}/file"' in page

    removal = slot_form(slot) | {"template_images-0-DELETE": "on"}
    assert staff.post(slot_page(slot.pk), removal).status_code == 302
    assert not TemplateImage.objects.exists()
    assert not default_storage.exists(image.storage_name)


def test_a_file_that_is_not_an_image_is_refused_as_a_template(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-005")
    upload = SimpleUploadedFile("notes.png", b"not an image at all", "image/png")
    form = slot_form(slot) | new_template_image("overlay", upload)

    response = staff.post(slot_page(slot.pk), form)

    assert response.status_code == 200
    assert "This file cannot be used: the file is not a JPEG, PNG or WebP image." in (
        html.unescape(response.content.decode())
    )
    assert not TemplateImage.objects.exists()


def test_slot_page_links_the_latest_results_to_the_guests_urls(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    jobs = [make_job("slot-001") for _ in range(11)]
    make_job("slot-001", status="failed")

    page = staff.get(slot_page("slot-001")).content.decode()

    shown = re.findall(r'href="/public/results/([0-9a-f-]+)"', page)
    assert shown == [str(job.pk) for job in reversed(jobs[1:])]
    assert f'src="/api/jobs/{jobs[-1].pk}/thumbnail"' in page


@pytest.mark.parametrize("slot_id", ["slot-001", "slot-010"])
def test_slot_page_has_the_test_run_panel(staff: Client, slot_id: str) -> None:
    page = staff.get(slot_page(slot_id)).content.decode()

    assert f'data-endpoint="/api/slots/{slot_id}/test-run"' in page
    assert 'data-job-url="/admin/ingest/job/JOB_ID/change/"' in page
    assert "/static/photochanger/slot_test_run.js" in page


def test_broken_json_is_the_only_error_until_it_is_fixed(staff: Client) -> None:
    slot = Slot.objects.get(pk="slot-001")

    response = staff.post(slot_page(slot.pk), slot_form(slot, provider="gemini", settings="{"))

    page = html.unescape(response.content.decode())
    assert "This is not valid JSON: " in page
    assert "Gemini has no operation" not in page
    assert Slot.objects.get(pk=slot.pk).provider == "local"


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"settings": '{"output": {"fit": "stretch"}}'}, "settings", "crop, crop-faces or contain"),
        (
            {"operation": "background", "settings": '{"background_color": "red"}'},
            "settings",
            "#rrggbb",
        ),
        ({"guest_qr_corner": "bottom-right"}, "guest_qr_corner", "public base URL"),
    ],
    ids=["output", "background", "guest-qr"],
)
def test_print_and_background_options_are_checked_on_the_slot_page(
    staff: Client, changes: dict[str, str], field: str, says: str
) -> None:
    slot = Slot.objects.get(pk="slot-002")

    response = staff.post(slot_page(slot.pk), slot_form(slot, **changes))

    page = html.unescape(response.content.decode())
    assert says in page
    assert f'class="form-row errors field-{field}"' in page
    saved = Slot.objects.get(pk=slot.pk)
    assert (saved.operation, saved.settings, saved.guest_qr_corner) == (
        slot.operation,
        slot.settings,
        "",
    )
