"""The settings page as staff use it: a new ingest password takes over at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from slots.models import GlobalSettings
from tests.booth import INGEST_PASSWORD
from tests.browser.conftest import screenshot
from tests.live import LiveBooth as Booth


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "new-booth-password-2"
GEMINI_KEY = "AIzaSy-browser-secret-key-777"


def test_a_new_ingest_password_refuses_the_old_one_at_once(
    staff_page: Page, booth: Booth, photo: bytes
) -> None:
    assert booth.post_photo("slot-001", photo).status_code == 200

    staff_page.goto("/admin/slots/globalsettings/")
    staff_page.fill("#id_new_ingest_password", NEW_PASSWORD)
    staff_page.fill("#id_new_ingest_password_again", NEW_PASSWORD)
    staff_page.fill("#id_new_gemini_key", GEMINI_KEY)
    staff_page.click("input[name=_continue]")
    staff_page.wait_for_selector(".messagelist .success")

    old = booth.post_photo("slot-001", photo, password=INGEST_PASSWORD)
    new = booth.post_photo("slot-001", photo, password=NEW_PASSWORD)
    assert (old.status_code, old.json()["failure_reason"]) == (401, "invalid_password")
    assert new.status_code == 200
    page = staff_page.content()
    assert "by operator." in page
    assert "Configured since" in page
    row = GlobalSettings.objects.get()
    assert GEMINI_KEY not in page
    assert row.ingest_password_hash not in page
    assert staff_page.input_value("#id_new_gemini_key") == ""
    screenshot(staff_page, "settings-page.png")
