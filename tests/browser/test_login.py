"""Staff logging in to the admin, and the lockout after repeated failures (django-axes)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import log_in
from tests.live import LiveBooth as Booth


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_log_in_to_the_photochanger_admin(
    booth: Booth, page: Page, staff_user: object
) -> None:
    log_in(page)

    page.wait_for_selector("#site-name")
    assert page.inner_text("#site-name") == "PhotoChanger"
    assert page.locator("a[href='/admin/slots/slot/']").count() >= 1
    assert page.locator("a[href='/admin/ingest/job/']").count() >= 1


def test_six_failed_logins_lock_the_client_out(
    booth: Booth, page: Page, staff_user: object
) -> None:
    for _attempt in range(6):
        log_in(page, password="wrong-password")

    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        log_in(page)  # the right password, too late

    assert answer.value.status == 429
    assert "locked" in page.content().lower()
    page.goto("/admin/")
    assert "/admin/login/" in page.url
