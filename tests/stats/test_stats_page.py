"""The stats page at /admin/stats/: staff only, in the admin's frame, linked from the index."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from stats.services import gallery_share

pytestmark = pytest.mark.usefixtures("slots")


def test_staff_get_the_page_in_the_admin_frame(staff_client: Client) -> None:
    response = staff_client.get("/admin/stats/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="site-name"' in html  # the admin's header
    assert 'data-overview-url="/api/stats/overview"' in html
    assert 'data-slots-url="/api/stats/slots"' in html
    assert 'data-socket-path="/ws/stats/"' in html
    for script in ("stats/charts.js", "stats/stats.js", "stats/stats.css"):
        assert f"/static/{script}" in html


def test_page_assets_are_our_own_static_files(staff_client: Client) -> None:
    html = staff_client.get("/admin/stats/").content.decode()
    assert "https://" not in html.replace("https://www.djangoproject.com", "")
    for asset in ("stats/charts.js", "stats/stats.js", "stats/stats.css", "stats/gallery.js"):
        assert finders.find(asset), asset


def test_window_selector_keeps_the_chosen_window(staff_client: Client) -> None:
    html = staff_client.get("/admin/stats/?window=1440").content.decode()
    assert '<option value="1440" selected>' in html
    html = staff_client.get("/admin/stats/?window=7").content.decode()
    assert '<option value="60" selected>' in html


def test_anonymous_is_sent_to_the_admin_login() -> None:
    response = Client().get("/admin/stats/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/stats/"


def test_non_staff_is_sent_to_the_admin_login(django_user_model: object) -> None:
    client = Client()
    client.force_login(django_user_model.objects.create(username="guest"))
    assert client.get("/admin/stats/").status_code == 302


def test_admin_index_links_to_the_stats_page(staff_client: Client) -> None:
    html = staff_client.get("/admin/").content.decode()
    assert 'href="/admin/stats/"' in html


def test_page_offers_sharing_and_then_stopping(staff_client: Client, staff_user: object) -> None:
    html = staff_client.get("/admin/stats/").content.decode()
    assert 'id="gallery-share"' in html
    assert 'id="gallery-stop"' not in html

    gallery_share(minutes=30, user=staff_user)

    html = staff_client.get("/admin/stats/").content.decode()
    assert 'id="gallery-stop"' in html
    assert 'href="/gallery/"' in html
