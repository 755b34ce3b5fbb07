"""The event's photos in one ZIP: every result still kept, of a time range and/or a slot,
streamed to staff who may see them (event admins)."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ingest.models import Job
from media.models import StoredMedia
from photochanger.tokens import api_token_create
from tests.booth import Booth
from tests.images import jpeg_bytes
from tests.roles import EVENT_ADMIN, EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def token_of(role: str) -> dict[str, str]:
    user = staff_with_role(f"staff-{role}", role)
    return {"Authorization": f"Bearer {api_token_create(user=user, name='t')[1]}"}


def archive(booth: Booth, headers: dict[str, str], **query: str) -> zipfile.ZipFile:
    response = booth.http.get("/api/results/archive", params=query, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_the_archive_holds_each_kept_photo_under_its_slot(booth: Booth) -> None:
    answers = {
        slot_id: booth.post_photo(slot_id, jpeg_bytes((40 + n, 30)))
        for n, slot_id in enumerate(["slot-001", "slot-002", "slot-003"])
    }

    zipped = archive(booth, token_of(EVENT_ADMIN))

    assert zipped.testzip() is None
    names = zipped.namelist()
    assert [name.split("/")[0] for name in names] == ["slot-001", "slot-002", "slot-003"]
    for name, (slot_id, answer) in zip(names, answers.items(), strict=True):
        assert name.startswith(f"{slot_id}/")
        assert name.endswith(f"-{answer.headers['x-job-id'][:8]}.jpg")
        assert zipped.read(name) == answer.content  # what the booth got, byte for byte


def test_a_slot_and_a_time_range_narrow_it(booth: Booth) -> None:
    old = booth.post_photo("slot-002", jpeg_bytes()).headers["x-job-id"]
    Job.objects.filter(pk=old).update(started_at=timezone.now() - timedelta(hours=3))
    booth.post_photo("slot-002", jpeg_bytes())
    booth.post_photo("slot-003", jpeg_bytes())
    since = (timezone.now() - timedelta(hours=1)).isoformat()

    zipped = archive(booth, token_of(EVENT_ADMIN), slot_id="slot-002", since=since)

    assert len(zipped.namelist()) == 1
    assert zipped.namelist()[0].startswith("slot-002/")
    assert old[:8] not in zipped.namelist()[0]


def test_expired_photos_and_test_runs_are_left_out(booth: Booth) -> None:
    expired = booth.post_photo("slot-001", jpeg_bytes()).headers["x-job-id"]
    StoredMedia.objects.filter(job_id=expired).update(expires_at=timezone.now())
    kept = booth.post_photo("slot-001", jpeg_bytes()).headers["x-job-id"]
    headers = token_of(EVENT_ADMIN)
    booth.http.post(
        "/api/slots/slot-001/test-run",
        files={"fileToUpload": ("t.jpg", jpeg_bytes(), "image/jpeg")},
        headers=headers,
    )

    names = archive(booth, headers).namelist()

    assert len(names) == 1
    assert kept[:8] in names[0]


def test_an_empty_archive_is_still_a_zip(booth: Booth) -> None:
    assert archive(booth, token_of(EVENT_ADMIN)).namelist() == []


def test_only_staff_who_may_see_stored_photos_get_it(booth: Booth) -> None:
    booth.post_photo("slot-001", jpeg_bytes())

    operator = booth.http.get("/api/results/archive", headers=token_of(EVENT_OPERATOR))
    anonymous = booth.http.get("/api/results/archive")

    assert operator.status_code == 403
    assert anonymous.status_code == 401


def test_the_stats_page_offers_it_to_event_admins_only(configured: None) -> None:
    admin, operator = Client(), Client()
    admin.force_login(staff_with_role("event-admin", EVENT_ADMIN))
    operator.force_login(staff_with_role("event-operator", EVENT_OPERATOR))

    assert 'id="photos-download"' in admin.get("/admin/stats/").content.decode()
    assert 'id="photos-download"' not in operator.get("/admin/stats/").content.decode()


def test_the_pages_form_sends_local_times_without_a_zone(booth: Booth) -> None:
    booth.post_photo("slot-001", jpeg_bytes())
    an_hour_ago = timezone.localtime() - timedelta(hours=1)

    zipped = archive(
        booth, token_of(EVENT_ADMIN), since=an_hour_ago.strftime("%Y-%m-%dT%H:%M"), until=""
    )

    assert len(zipped.namelist()) == 1
