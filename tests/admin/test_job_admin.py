"""Job history in the admin: read-only, filterable, searchable by job id."""

from __future__ import annotations

import html
from collections.abc import Callable

from django.test import Client
from django.utils import timezone

from ingest.models import Job

JOB_LIST = "/admin/ingest/job/"


def job_page(job: Job) -> str:
    return f"/admin/ingest/job/{job.pk}/change/"


def listed(client: Client, query: str = "") -> str:
    response = client.get(JOB_LIST + query)
    assert response.status_code == 200
    return response.content.decode()


def test_jobs_cannot_be_added_changed_or_deleted(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    job = make_job()

    assert staff.get(JOB_LIST + "add/").status_code == 403
    assert staff.get(f"{JOB_LIST}{job.pk}/delete/").status_code == 403
    assert staff.post(job_page(job), {"status": "failed"}).status_code == 403
    page = staff.get(job_page(job)).content.decode()
    assert 'name="_save"' not in page


def test_newest_jobs_come_first(staff: Client, make_job: Callable[..., Job]) -> None:
    older, newer = make_job(), make_job()

    page = listed(staff)

    assert page.index(str(newer.pk)) < page.index(str(older.pk))


def test_search_finds_a_job_by_its_whole_id_only(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    wanted, other = make_job(), make_job()

    found = listed(staff, f"?q={wanted.pk}")
    partial = listed(staff, f"?q={str(wanted.pk)[:8]}")

    assert str(wanted.pk) in found
    assert str(other.pk) not in found
    assert str(wanted.pk) not in partial.replace(f"q={str(wanted.pk)[:8]}", "")


def test_jobs_are_listed_by_date(staff: Client, make_job: Callable[..., Job]) -> None:
    job = make_job()
    day = timezone.localtime(job.started_at)

    that_day = listed(
        staff,
        f"?started_at__year={day.year}&started_at__month={day.month}&started_at__day={day.day}",
    )
    year_before = listed(staff, f"?started_at__year={day.year - 1}")

    assert str(job.pk) in that_day
    assert str(job.pk) not in year_before


def test_jobs_are_filtered_by_status_and_slot(staff: Client, make_job: Callable[..., Job]) -> None:
    done = make_job("slot-001")
    failed = make_job("slot-002", status="failed")

    by_status = listed(staff, "?status__exact=failed")
    by_slot = listed(staff, "?slot__id__exact=slot-001")

    assert str(failed.pk) in by_status
    assert str(done.pk) not in by_status
    assert str(done.pk) in by_slot
    assert str(failed.pk) not in by_slot


def test_the_job_page_shows_the_answer_timings_metadata_and_result_links(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    done = make_job(metadata={"user_id": "Acer", "version": "3.30.2"})
    failed = make_job("slot-002", status="failed")

    done_page = html.unescape(staff.get(job_page(done)).content.decode())
    failed_page = html.unescape(staff.get(job_page(failed)).content.decode())

    assert '"user_id": "Acer"' in done_page
    assert "140 ms" in done_page
    assert f'href="/public/results/{done.pk}"' in done_page
    assert f'src="/api/jobs/{done.pk}/thumbnail"' in done_page
    assert "provider_error" in failed_page
    assert "the provider said no" in failed_page
    assert "502" in failed_page
    assert "/public/results/" not in failed_page


def test_the_job_page_lists_the_providers_tried(
    staff: Client, make_job: Callable[..., Job]
) -> None:
    job = make_job("slot-006")
    attempts = [
        {
            "step": 0,
            "slot": "slot-006",
            "provider": "gemini",
            "operation": "generate",
            "started_at": "2026-12-07T18:00:00+00:00",
            "finished_at": "2026-12-07T18:00:04.500000+00:00",
            "outcome": "timeout",
            "error": "timeout",
            "details": "no answer in 4.5 s",
        },
        {
            "step": 1,
            "slot": "slot-007",
            "provider": "openai",
            "operation": "edit",
            "started_at": "2026-12-07T18:00:04.600000+00:00",
            "finished_at": "2026-12-07T18:00:05+00:00",
            "outcome": "ok",
            "error": "",
            "details": "",
        },
    ]
    Job.objects.filter(pk=job.pk).update(attempts=attempts, served_step=1)

    page = staff.get(job_page(job)).content.decode()

    assert "<td>slot-006</td><td>gemini · generate</td><td>timeout</td><td>4.5 s</td>" in page
    assert "<td>slot-007</td><td>openai · edit</td><td>ok</td><td>0.4 s</td>" in page
