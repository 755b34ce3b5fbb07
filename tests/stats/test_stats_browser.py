"""The stats page and the gallery in a real browser, against our live server.

A photo the booth sends appears in the page's live feed (over the page's WebSocket, published
by the server that processed it) with its thumbnail, without reloading; the gallery, once
shared from the page, shows it; stopping the share closes the gallery (403).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser import conftest as admin_browser
from tests.browser.conftest import image_loaded
from tests.live import LiveBooth as Booth


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


pytestmark = pytest.mark.django_db(transaction=True)

# The browser, its login as staff and the content-type guard, shared with the admin's tests.
browser = admin_browser.browser
page = admin_browser.page
staff_page = admin_browser.staff_page
staff_user = admin_browser.staff_user
staff_password_hash = admin_browser.staff_password_hash
content_type_ids = admin_browser.content_type_ids
_same_content_type_ids = admin_browser._same_content_type_ids


def test_a_photo_just_processed_shows_live_and_in_the_shared_gallery(
    staff_page: Page, booth: Booth, photo: bytes
) -> None:
    staff_page.goto("/admin/stats/")
    staff_page.wait_for_selector('#stats-live[data-state="live"]')
    staff_page.wait_for_selector("#stats-slots tbody tr[data-slot='slot-002']")

    response = booth.post_photo("slot-002", photo)
    assert response.status_code == 200
    job_id = response.headers["x-job-id"]

    item = f'#stats-feed li[data-job-id="{job_id}"]'
    staff_page.wait_for_selector(item)
    image_loaded(staff_page, f"{item} img")
    assert "slot-002" in staff_page.inner_text(item)
    # The figures follow the event by themselves, too.
    staff_page.wait_for_function(
        "document.querySelector('[data-total=\"done\"]').textContent === '1'"
    )

    staff_page.select_option("#gallery-minutes", "15")
    staff_page.click("#gallery-share")
    staff_page.wait_for_selector("#gallery-stop")

    gallery = staff_page.context.new_page()
    opened = gallery.goto("/gallery/")
    assert opened is not None
    assert opened.status == 200
    image_loaded(gallery, f'a[data-job-id="{job_id}"] img')

    staff_page.click("#gallery-stop")
    staff_page.wait_for_selector("#gallery-share")
    assert staff_page.locator("#gallery-stop").count() == 0

    closed = gallery.goto("/gallery/")
    assert closed is not None
    assert closed.status == 403
