"""The admin site as a whole: its name, and its pages and static files under our server."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.live import LiveBooth as Booth


@pytest.fixture
def booth(live_booth: Booth) -> Booth:
    """This module's booth talks to the live server: what it tests only a socket shows."""
    return live_booth


def test_the_admin_is_titled_photochanger(staff: Client) -> None:
    page = staff.get("/admin/").content.decode()
    assert "<title>Event setup | PhotoChanger</title>" in page
    assert ">PhotoChanger</a>" in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path",
    [
        "/static/admin/css/base.css",
        "/static/admin/js/core.js",
        "/static/photochanger/slot_test_run.js",
        "/static/photochanger/slot_admin.css",
    ],
)
def test_our_server_serves_the_admins_static_files_with_debug_off(booth: Booth, path: str) -> None:
    response = booth.http.get(path)
    assert response.status_code == 200
    assert len(response.content) > 100


@pytest.mark.django_db(transaction=True)
def test_our_server_shows_the_admin_login_with_debug_off(booth: Booth) -> None:
    response = booth.http.get("/admin/login/")
    assert response.status_code == 200
    assert "PhotoChanger" in response.text
    assert "/static/admin/css/base.css" in response.text


def test_the_admin_address_without_its_slash_leads_to_the_admin() -> None:
    response = Client().get("/admin")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
