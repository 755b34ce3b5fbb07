"""The stats page in a browser: job lists stay inside their box at a 1400 px wide window, and
the list of refused addresses, kept up to date by the page's script, releases one with a click."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from ingest.models import Job, JobSource, JobStatus
from tests.browser.conftest import screenshot
from tests.live import LiveBooth
from tests.stats.conftest import make_job

pytestmark = pytest.mark.django_db(transaction=True)

# What providers send back can be one long word: a URL, base64, a JSON blob (kept to the
# 500 characters a job stores).
LONG_DETAILS = "upstream said: " + "x" * 300 + " https://example.invalid/" + "a/b" * 30


@pytest.fixture
def long_failures(configured: None) -> list[Job]:
    jobs = []
    now = timezone.now()
    for minutes, source in [(1, JobSource.INGEST), (2, JobSource.INGEST), (3, JobSource.TEST_RUN)]:
        job = make_job(
            "slot-004",
            started_at=now - timedelta(minutes=minutes),
            status=JobStatus.FAILED,
            failure_reason="provider_error_with_a_long_code_name",  # 40 at most
            http_status=502,
            source=source,
        )
        Job.objects.filter(pk=job.pk).update(failure_details=LONG_DETAILS)
        jobs.append(job)
    return jobs


def test_job_lists_fit_their_box_at_1400_pixels(staff_page: Page, long_failures: list[Job]) -> None:
    staff_page.set_viewport_size({"width": 1400, "height": 900})
    staff_page.goto("/admin/stats/")
    staff_page.wait_for_selector("#stats-failures tbody tr")
    staff_page.wait_for_selector("#stats-test-run-failures tbody tr")
    screenshot(staff_page, "stats-page-1400.png")

    sizes = staff_page.evaluate(
        """() => {
            const tables = [...document.querySelectorAll("table.stats-jobs")];
            return {
                page: document.documentElement.scrollWidth,
                window: window.innerWidth,
                lists: tables.map((table) => {
                    const box = table.closest(".module");
                    return {
                        id: table.id,
                        table: table.scrollWidth,
                        wrap: table.parentElement.clientWidth,
                        boxRight: box.getBoundingClientRect().right,
                        tableRight: table.getBoundingClientRect().right,
                    };
                }),
            };
        }"""
    )

    assert sizes["page"] <= sizes["window"], sizes
    assert [item["id"] for item in sizes["lists"]] == [
        "stats-requests-table",
        "stats-failures",
        "stats-test-run-failures",
    ]
    for item in sizes["lists"]:
        assert item["table"] <= item["wrap"], item
        assert item["tableRight"] <= item["boxRight"], item


def test_failures_show_their_details_and_link_to_the_job(
    staff_page: Page, long_failures: list[Job]
) -> None:
    staff_page.goto("/admin/stats/")
    booth_failure = long_failures[0]
    row = f'#stats-failures tr[data-job-id="{booth_failure.pk}"]'
    staff_page.wait_for_selector(row)

    assert LONG_DETAILS in staff_page.inner_text(f"{row} .stats-details")
    link = staff_page.locator(f"{row} a")
    assert link.get_attribute("href") == f"/admin/ingest/job/{booth_failure.pk}/change/"
    test_run = long_failures[2]
    assert staff_page.locator(f'#stats-failures tr[data-job-id="{test_run.pk}"]').count() == 0
    assert staff_page.locator(f'#stats-test-run-failures tr[data-job-id="{test_run.pk}"]').count()

    link.click()
    staff_page.wait_for_url(f"**/admin/ingest/job/{booth_failure.pk}/change/")


def test_staff_release_a_refused_booth_with_one_click(
    staff_page: Page, live_booth: LiveBooth, photo: bytes
) -> None:
    staff_page.set_viewport_size({"width": 1400, "height": 900})
    staff_page.goto("/admin/stats/")
    staff_page.wait_for_function("document.getElementById('stats-updated').textContent !== ''")
    for _ in range(10):
        assert live_booth.post_photo("slot-003", photo, password="guess").status_code == 401
    assert live_booth.post_photo("slot-003", photo).status_code == 429

    # The page's script shows the address at its next refresh, here a change of window.
    staff_page.select_option("#stats-window", "15")
    row = f'#stats-refused tbody tr:has(td[data-field="address"]:text-is("{live_booth.address}"))'
    staff_page.wait_for_selector(row)
    assert staff_page.inner_text(f'{row} td[data-field="last_slot_id"]') == "slot-003"
    assert staff_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    staff_page.click(f"{row} button")

    staff_page.wait_for_selector(".messagelist .success")
    assert live_booth.post_photo("slot-003", photo).status_code == 200


def test_the_booth_request_log_shows_a_refused_booth_within_seconds(
    staff_page: Page, live_booth: LiveBooth, photo: bytes
) -> None:
    staff_page.goto("/admin/stats/")
    staff_page.wait_for_function("document.getElementById('stats-updated').textContent !== ''")

    assert live_booth.post_photo("slot-001", photo, password="guess").status_code == 401

    # No reload: the page reads the log every few seconds.
    row = '#stats-requests-table tbody tr:has-text("invalid_password")'
    staff_page.wait_for_selector(row, timeout=15_000)
    assert live_booth.address in staff_page.inner_text(row)
    assert "guess" not in staff_page.content()
    staff_page.select_option("#requests-outcome", "answered")
    staff_page.wait_for_selector(row, state="detached")
