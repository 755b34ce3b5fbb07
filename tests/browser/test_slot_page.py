"""The slot page as staff use it: edit a slot, add a template image, try a test photo."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page

from ingest.models import Job, JobSource, JobStatus
from slots.models import GlobalSettings, Slot, TemplateImage
from tests.browser.conftest import image_loaded, screenshot
from tests.fakes.gemini import FakeGemini, answer_image
from tests.live import REPO
from tests.live import LiveBooth as Booth


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


pytestmark = pytest.mark.django_db(transaction=True)

GEMINI_SLOT = "slot-006"
OLD_PROMPT = "turn the guest into a watercolour painting"
NEW_PROMPT = "turn the guest into a 1920s silent film star"


def slot_page(slot_id: str) -> str:
    return f"/admin/slots/slot/{slot_id}/change/"


def save_and_continue(page: Page) -> None:
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")


@pytest.fixture
def gemini_slot(booth: Booth, fake_gemini: FakeGemini) -> str:
    """slot-006 on the fake Gemini, with a key configured."""
    GlobalSettings.objects.update(gemini_api_key="AIzaSy-browser-test-key")
    Slot.objects.filter(pk=GEMINI_SLOT).update(
        is_active=True,
        provider="gemini",
        operation="generate",
        settings={"prompt": OLD_PROMPT},
    )
    return GEMINI_SLOT


def test_a_prompt_changed_on_the_slot_page_is_used_by_the_next_photo(
    staff_page: Page, booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, photo: bytes
) -> None:
    staff_page.goto(slot_page(gemini_slot))
    settings = json.loads(staff_page.input_value("#id_settings"))
    staff_page.fill("#id_settings", json.dumps({**settings, "prompt": NEW_PROMPT}, indent=2))
    save_and_continue(staff_page)

    response = booth.post_photo(gemini_slot, photo)

    assert response.status_code == 200
    parts = fake_gemini.requests[-1].json["contents"][0]["parts"]
    assert parts[-1] == {"text": NEW_PROMPT}
    assert Slot.objects.get(pk=gemini_slot).version == 2


def test_the_slot_list_shows_the_last_results_thumbnail(
    staff_page: Page, booth: Booth, photo: bytes
) -> None:
    response = booth.post_photo("slot-002", photo)
    assert response.status_code == 200

    staff_page.goto("/admin/slots/slot/")

    image_loaded(staff_page, f"img[src='/api/jobs/{response.headers['x-job-id']}/thumbnail']")
    screenshot(staff_page, "slot-list.png")


def test_an_uploaded_template_image_shows_its_preview(staff_page: Page, booth: Booth) -> None:
    staff_page.goto(slot_page("slot-005"))
    staff_page.select_option("#id_template_images-0-role", "overlay")
    staff_page.set_input_files(
        "#id_template_images-0-upload", str(REPO / "fixtures" / "frame-overlay.png")
    )
    save_and_continue(staff_page)

    image = TemplateImage.objects.get(slot_id="slot-005")
    assert image.role == "overlay"
    image_loaded(staff_page, "img.template-preview")


def test_a_test_photo_shows_its_result_time_and_job_on_the_page(
    staff_page: Page, booth: Booth, photo: bytes
) -> None:
    staff_page.goto(slot_page("slot-001"))
    staff_page.select_option("#id_operation", "grayscale")  # not saved: the run uses it anyway
    staff_page.set_input_files(
        "#test-run-photo", files=[{"name": "test.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    staff_page.click("#test-run-button")

    image_loaded(staff_page, "#test-run-result")
    job = Job.objects.get()
    assert (job.source, job.status, job.operation) == (
        JobSource.TEST_RUN,
        JobStatus.DONE,
        "grayscale",
    )
    status = staff_page.inner_text("#test-run-status")
    assert status.startswith("Done in ")
    job_link = staff_page.get_attribute("a.test-run-job", "href")
    assert job_link == f"/admin/ingest/job/{job.pk}/change/"
    assert staff_page.inner_text("a.test-run-job") == str(job.pk)
    assert Slot.objects.get(pk="slot-001").operation == "passthrough"
    screenshot(staff_page, "slot-page.png")


def test_a_refused_test_photo_shows_the_reason_on_the_page(
    staff_page: Page, booth: Booth, photo: bytes
) -> None:
    staff_page.goto(slot_page("slot-004"))
    staff_page.fill("#id_settings", '{"bits": 99}')
    staff_page.set_input_files(
        "#test-run-photo", files=[{"name": "test.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    staff_page.click("#test-run-button")

    staff_page.wait_for_selector("#test-run-status.test-run-error")
    status = staff_page.inner_text("#test-run-status")
    assert "HTTP 422" in status
    assert "settings.bits: bits must be a whole number from 1 to 8." in status
    assert staff_page.is_hidden("#test-run-result")


def test_a_test_photo_takes_survey_answers_for_the_prompt(
    staff_page: Page, booth: Booth, gemini_slot: str, fake_gemini: FakeGemini, photo: bytes
) -> None:
    fake_gemini.script(answer_image("PNG", size=(8, 8)))
    Slot.objects.filter(pk=gemini_slot).update(
        settings={
            "prompt": "A {style} portrait",
            "prompt_fields": {"style": {"default": "plain", "choices": ["plain", "comic"]}},
        }
    )
    staff_page.goto(slot_page(gemini_slot))
    staff_page.fill("#test-run-answers", "style=comic")
    staff_page.set_input_files(
        "#test-run-photo", files=[{"name": "test.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    staff_page.click("#test-run-button")

    image_loaded(staff_page, "#test-run-result")
    assert Job.objects.get().prompt_sent == "A comic portrait"


def test_the_print_preview_follows_the_output_block_as_it_is_typed(
    staff_page: Page, booth: Booth, photo: bytes
) -> None:
    staff_page.goto(slot_page("slot-002"))
    staff_page.fill("#id_settings", json.dumps({"output": {"size": "4x6-portrait"}}))
    staff_page.set_input_files(
        "#test-run-photo", files=[{"name": "test.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    staff_page.click("#test-run-button")
    image_loaded(staff_page, "#test-run-result")

    assert preview_size(staff_page) == [400, 600]
    staff_page.fill("#id_settings", json.dumps({"output": {"size": "4x6-landscape"}}))
    staff_page.wait_for_function(
        "() => document.querySelector('#print-preview-image').naturalWidth === 600"
    )
    assert preview_size(staff_page) == [600, 400]
    assert Job.objects.count() == 1  # the preview called no provider
    staff_page.fill("#id_settings", '{"output": {"fit": "stretch"}}')
    staff_page.wait_for_selector("#print-preview-status.test-run-error")
    assert "crop, crop-faces or contain" in staff_page.inner_text("#print-preview-status")


def preview_size(page: Page) -> list[int]:
    image_loaded(page, "#print-preview-image")
    return page.evaluate(
        "() => { const image = document.querySelector('#print-preview-image');"
        " return [image.naturalWidth, image.naturalHeight]; }"
    )
