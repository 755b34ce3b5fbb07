"""Test runs: the booth's pipeline from the staff side, without the password."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from PIL import Image

from ingest.models import Job, JobSource, JobStatus
from photochanger.tokens import api_token_create
from slots.models import Slot
from tests.booth import Booth
from tests.roles import EVENT_OPERATOR, staff_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_token(configured: None) -> str:
    user = staff_with_role("staff", EVENT_OPERATOR)
    return api_token_create(user=user, name="tests")[1]


def post_test_run(booth: Booth, token: str | None, slot_id: str, photo: bytes, **form: str):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return booth.http.post(
        f"/api/slots/{slot_id}/test-run",
        files={"fileToUpload": ("test.jpg", photo, "image/jpeg")},
        data=form,
        headers=headers,
    )


def test_test_run_answers_the_image_and_records_a_test_run_job(
    booth: Booth, staff_token: str, photo: bytes
) -> None:
    response = post_test_run(booth, staff_token, "slot-002", photo)

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    job = Job.objects.get(pk=response.headers["x-job-id"])
    assert job.source == JobSource.TEST_RUN
    assert job.status == JobStatus.DONE


def test_test_run_works_on_a_switched_off_slot(
    booth: Booth, staff_token: str, photo: bytes
) -> None:
    Slot.objects.filter(pk="slot-003").update(is_active=False)
    assert post_test_run(booth, staff_token, "slot-003", photo).status_code == 200


def test_unsaved_changes_apply_to_the_run_only(
    booth: Booth, staff_token: str, photo: bytes
) -> None:
    overrides = json.dumps({"operation": "grayscale"})
    response = post_test_run(booth, staff_token, "slot-001", photo, overrides=overrides)

    with Image.open(io.BytesIO(response.content)) as result:
        assert result.mode == "L"
    slot = Slot.objects.get(pk="slot-001")
    assert slot.operation == "passthrough"
    assert Job.objects.get().metadata == {}


def test_invalid_unsaved_changes_are_422_naming_the_field(
    booth: Booth, staff_token: str, photo: bytes
) -> None:
    overrides = json.dumps({"operation": "posterize", "settings": {"bits": 99}})
    response = post_test_run(booth, staff_token, "slot-004", photo, overrides=overrides)

    assert response.status_code == 422
    assert response.json()["errors"] == {
        "settings.bits": "bits must be a whole number from 1 to 8."
    }
    assert Job.objects.count() == 0


@pytest.mark.parametrize("token", [None, "pc_not-a-token"])
def test_test_run_needs_staff_credentials(booth: Booth, photo: bytes, token: str | None) -> None:
    response = post_test_run(booth, token, "slot-001", photo)
    assert response.status_code == 401
    assert Job.objects.count() == 0


def test_token_of_a_non_staff_user_is_refused(booth: Booth, photo: bytes) -> None:
    user = get_user_model().objects.create_user("guest", password="x", is_staff=False)
    token = api_token_create(user=user, name="nope")[1]
    assert post_test_run(booth, token, "slot-001", photo).status_code == 401


def test_the_booth_password_is_not_a_staff_credential(booth: Booth, photo: bytes) -> None:
    response = booth.http.post(
        "/api/slots/slot-001/test-run",
        files={"fileToUpload": ("t.jpg", photo, "image/jpeg")},
        data={"password": "booth-secret-123"},
    )
    assert response.status_code == 401
    assert Job.objects.count() == 0
