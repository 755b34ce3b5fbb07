"""GET /api/slots, GET and PATCH /api/slots/{slot_id}."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.jobs import job_fail, job_start
from ingest.models import Job
from photochanger.errors import ProviderTimeout
from slots.models import Slot
from tests.staff_api.conftest import csrf_headers

pytestmark = pytest.mark.django_db


def patch_slot(client: Client, slot_id: str, changes: dict, **headers: str):
    return client.patch(
        f"/api/slots/{slot_id}", changes, content_type="application/json", headers=headers
    )


def start_job(slot_id: str) -> Job:
    return job_start(
        slot=Slot.objects.get(pk=slot_id), deadline_at=timezone.now() + timedelta(seconds=48)
    )


def test_list_has_the_15_slots_in_id_order(api: Client) -> None:
    response = api.get("/api/slots")

    assert response.status_code == 200
    assert [slot["id"] for slot in response.json()] == [f"slot-{n:03}" for n in range(1, 16)]


def test_slot_shows_its_fields(api: Client) -> None:
    slot = api.get("/api/slots/slot-001").json()

    assert set(slot) == {
        "id",
        "display_name",
        "provider",
        "operation",
        "is_active",
        "size_limit_mb",
        "settings",
        "on_failure",
        "max_concurrent_jobs",
        "version",
        "updated_at",
        "updated_by",
        "template_images",
        "jobs_today",
        "ready",
        "missing",
        "guest_qr_corner",
        "guest_qr_caption",
        "failover_first",
        "failover_second",
        "failover_on_refusal",
        "daily_paid_calls_cap",
    }
    stored = Slot.objects.get(pk="slot-001")
    assert slot["provider"] == stored.provider
    assert slot["operation"] == stored.operation
    assert slot["version"] == stored.version
    assert slot["updated_by"] is None
    assert slot["template_images"] == []
    assert slot["jobs_today"] == {"total": 0, "done": 0, "failed": 0, "timeout": 0}


def test_unknown_slot_is_404_slot_not_found(api: Client) -> None:
    response = api.get("/api/slots/slot-999")

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "slot_not_found"


def test_counts_are_todays_jobs_by_status(api: Client, done_job: Job, failed_job: Job) -> None:
    timed_out = start_job("slot-001")
    job_fail(job_id=timed_out.pk, error=ProviderTimeout("late"), http_status=504)
    start_job("slot-001")  # still pending: counted in the total only
    yesterday = start_job("slot-001")
    Job.objects.filter(pk=yesterday.pk).update(started_at=timezone.now() - timedelta(days=1))

    slots = {slot["id"]: slot for slot in api.get("/api/slots").json()}

    assert slots["slot-001"]["jobs_today"] == {"total": 3, "done": 1, "failed": 0, "timeout": 1}
    assert slots["slot-002"]["jobs_today"] == {"total": 1, "done": 0, "failed": 1, "timeout": 0}
    assert slots["slot-003"]["jobs_today"] == {"total": 0, "done": 0, "failed": 0, "timeout": 0}


def test_one_slot_has_its_counts_too(api: Client, done_job: Job) -> None:
    assert api.get("/api/slots/slot-001").json()["jobs_today"]["done"] == 1


def test_list_counts_jobs_in_one_query(api: Client, done_job: Job, failed_job: Job) -> None:
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/slots")

    job_queries = [query for query in queries if "ingest_job" in query["sql"]]
    assert len(job_queries) == 1
    # The token, the slots, their editors and template images, and the settings row their
    # readiness reads: a fixed number, not one per slot.
    slot_queries = [query for query in queries if "slots_" in query["sql"]]
    assert len(slot_queries) <= 5


def test_patch_changes_the_slot_and_bumps_its_version(api: Client) -> None:
    before = Slot.objects.get(pk="slot-004")

    response = patch_slot(
        api,
        "slot-004",
        {
            "display_name": "Poster",
            "operation": "posterize",
            "settings": {"bits": 3},
            "size_limit_mb": 10,
            "on_failure": "original",
            "max_concurrent_jobs": 5,
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["display_name"] == "Poster"
    assert body["settings"] == {"bits": 3}
    assert body["version"] == before.version + 1
    assert body["updated_by"] == "operator"
    slot = Slot.objects.get(pk="slot-004")
    assert (slot.operation, slot.size_limit_mb, slot.on_failure) == ("posterize", 10, "original")
    assert slot.max_concurrent_jobs == 5


def test_patch_leaves_fields_not_sent_alone(api: Client) -> None:
    before = Slot.objects.get(pk="slot-002")

    patch_slot(api, "slot-002", {"is_active": False})

    slot = Slot.objects.get(pk="slot-002")
    assert slot.is_active is False
    assert (slot.display_name, slot.operation, slot.settings) == (
        before.display_name,
        before.operation,
        before.settings,
    )


def test_patch_may_clear_the_slot_cap(api: Client) -> None:
    Slot.objects.filter(pk="slot-001").update(max_concurrent_jobs=3)

    response = patch_slot(api, "slot-001", {"max_concurrent_jobs": None})

    assert response.status_code == 200
    assert Slot.objects.get(pk="slot-001").max_concurrent_jobs is None


def test_invalid_provider_setting_is_422_naming_it(api: Client) -> None:
    before = Slot.objects.get(pk="slot-004")

    response = patch_slot(api, "slot-004", {"operation": "posterize", "settings": {"bits": 99}})

    assert response.status_code == 422
    assert response.json()["errors"] == {
        "settings.bits": "bits must be a whole number from 1 to 8."
    }
    after = Slot.objects.get(pk="slot-004")
    assert (after.version, after.settings) == (before.version, before.settings)


def test_unknown_operation_is_422_naming_it(api: Client) -> None:
    response = patch_slot(api, "slot-001", {"operation": "blur"})

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"operation"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"size_limit_mb": 0}, "size_limit_mb"),
        ({"size_limit_mb": 21}, "size_limit_mb"),
        ({"size_limit_mb": "big"}, "size_limit_mb"),
        ({"provider": "dall-e"}, "provider"),
        ({"on_failure": "retry"}, "on_failure"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"is_active": None}, "is_active"),
        ({"settings": [1, 2]}, "settings"),
        ({"version": 99}, "version"),
        ({"id": "slot-100"}, "id"),
        ({"updated_by": 1}, "updated_by"),
    ],
)
def test_invalid_or_unknown_field_is_422_naming_it(api: Client, changes: dict, field: str) -> None:
    before = Slot.objects.get(pk="slot-001")

    response = patch_slot(api, "slot-001", changes)

    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error"
    assert field in body["errors"]
    assert Slot.objects.get(pk="slot-001").version == before.version


def test_body_that_is_not_an_object_is_422(api: Client) -> None:
    response = patch_slot(api, "slot-001", ["display_name"])

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"body"}


def test_patch_of_unknown_slot_is_404_slot_not_found(api: Client) -> None:
    response = patch_slot(api, "slot-016", {"display_name": "x"})

    assert response.status_code == 404
    assert response.json()["failure_reason"] == "slot_not_found"


def test_change_by_session_names_the_staff_member(staff_session: Client) -> None:
    response = patch_slot(
        staff_session, "slot-001", {"display_name": "Entrance"}, **csrf_headers(staff_session)
    )

    assert response.json()["updated_by"] == "operator"
    assert staff_session.get("/api/slots").json()[0]["updated_by"] == "operator"


def test_a_failover_chain_is_set_and_cleared_by_slot_id(api: Client) -> None:
    chain = {"failover_first": "slot-007", "failover_second": "slot-002"}

    saved = patch_slot(api, "slot-006", chain | {"failover_on_refusal": True})
    cleared = patch_slot(api, "slot-006", {"failover_first": None, "failover_second": None})

    assert saved.status_code == 200, saved.content
    assert {name: saved.json()[name] for name in chain} == chain
    assert saved.json()["failover_on_refusal"] is True
    assert cleared.status_code == 200
    slot = Slot.objects.get(pk="slot-006")
    assert (slot.failover_first_id, slot.failover_second_id) == (None, None)


@pytest.mark.parametrize(
    ("chain", "field", "says"),
    [
        ({"failover_first": "slot-006"}, "failover_first", "cannot fail over to itself"),
        ({"failover_second": "slot-007"}, "failover_second", "first failover slot first"),
        (
            {"failover_first": "slot-007", "failover_second": "slot-007"},
            "failover_second",
            "two different",
        ),
        ({"failover_first": "slot-099"}, "failover_first", "not a valid choice"),
    ],
    ids=["itself", "second-alone", "twice", "unknown"],
)
def test_a_wrong_failover_chain_is_refused_on_its_field(
    api: Client, chain: dict, field: str, says: str
) -> None:
    response = patch_slot(api, "slot-006", chain)

    assert response.status_code == 422
    assert says in response.json()["errors"][field]
    assert Slot.objects.get(pk="slot-006").failover_first_id is None
