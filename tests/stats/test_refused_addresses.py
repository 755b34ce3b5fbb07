"""Addresses refused for wrong ingest passwords: listed for staff, released by them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from photochanger.throttle import INDEX_SIZE, FailureLimit
from slots.services import ingest_password_set
from tests.booth import INGEST_PASSWORD, Booth

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = "redis://127.0.0.1:6379/15"


def lock_out(booth: Booth, photo: bytes, *, slot_id: str = "slot-003") -> None:
    for _ in range(django_settings.INGEST_PASSWORD_FAILURES):
        assert booth.post_photo(slot_id, photo, password="guess").status_code == 401
    assert booth.post_photo(slot_id, photo).status_code == 429


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_staff_see_a_refused_address_in_the_api(
    booth: Booth, photo: bytes, staff_client: Client
) -> None:
    before = timezone.now()
    lock_out(booth, photo)

    response = staff_client.get("/api/stats/refused-addresses")

    assert response.status_code == 200
    [refused] = response.json()["addresses"]
    assert refused["address"] == booth.address
    assert refused["failures"] == django_settings.INGEST_PASSWORD_FAILURES
    assert refused["last_slot_id"] == "slot-003"
    assert refused["last_reason"] == "wrong_password"
    since = datetime.fromisoformat(refused["since"])
    blocked_until = datetime.fromisoformat(refused["blocked_until"])
    assert before - timedelta(seconds=1) <= since <= timezone.now()
    assert timezone.now() < blocked_until <= timezone.now() + timedelta(seconds=31)


def test_an_address_with_a_few_wrong_passwords_is_listed_but_not_blocked(
    booth: Booth, photo: bytes, staff_client: Client
) -> None:
    booth.post_photo("slot-007", photo, password="guess")

    [refused] = staff_client.get("/api/stats/refused-addresses").json()["addresses"]

    assert (refused["failures"], refused["last_slot_id"]) == (1, "slot-007")
    assert refused["blocked_until"] is None


def test_a_wrong_password_in_the_url_names_its_slot_too(
    booth: Booth, photo: bytes, staff_client: Client
) -> None:
    booth.post_photo("slot-009", photo, password=None, query={"password": "guess"})

    [refused] = staff_client.get("/api/stats/refused-addresses").json()["addresses"]

    assert (refused["failures"], refused["last_slot_id"]) == (1, "slot-009")


def test_an_address_sending_the_old_password_is_marked_so(
    booth: Booth, photo: bytes, staff_client: Client
) -> None:
    ingest_password_set(password="booth-secret-456", set_by="tests")
    booth.post_photo("slot-002", photo, password=INGEST_PASSWORD)

    [refused] = staff_client.get("/api/stats/refused-addresses").json()["addresses"]

    assert refused["last_reason"] == "old_password"


def test_the_stats_page_lists_the_address_with_a_release_form(
    booth: Booth, photo: bytes, staff_client: Client
) -> None:
    lock_out(booth, photo)

    html = staff_client.get("/admin/stats/").content.decode()

    assert f'<td data-field="address">{booth.address}</td>' in html
    assert 'action="/admin/stats/refused-addresses/release"' in html
    assert f'<input type="hidden" name="address" value="{booth.address}">' in html
    csrf_token(html)


def test_releasing_from_the_page_lets_the_booth_in_at_once(
    booth: Booth, photo: bytes, staff_user: object
) -> None:
    lock_out(booth, photo)
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(staff_user)
    token = csrf_token(staff.get("/admin/stats/").content.decode())

    released = staff.post(
        "/admin/stats/refused-addresses/release",
        {"address": booth.address, "csrfmiddlewaretoken": token},
    )

    assert released.status_code == 302
    assert released["Location"] == "/admin/stats/"
    assert booth.post_photo("slot-003", photo).status_code == 200
    assert staff.get("/api/stats/refused-addresses").json()["addresses"] == []


def test_release_without_the_csrf_token_is_refused(
    booth: Booth, photo: bytes, staff_user: object
) -> None:
    lock_out(booth, photo)
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(staff_user)

    response = staff.post("/admin/stats/refused-addresses/release", {"address": booth.address})

    assert response.status_code == 403
    assert booth.post_photo("slot-003", photo).status_code == 429


def test_releasing_through_the_api_clears_counts_and_block(
    booth: Booth, photo: bytes, staff_client: Client
) -> None:
    lock_out(booth, photo)

    response = staff_client.delete(f"/api/stats/refused-addresses/{booth.address}")

    assert response.status_code == 204
    assert booth.post_photo("slot-003", photo).status_code == 200
    # The count starts again from nothing: as many wrong ones again before the next block.
    for _ in range(django_settings.INGEST_PASSWORD_FAILURES - 1):
        assert booth.post_photo("slot-003", photo, password="guess").status_code == 401
    assert booth.post_photo("slot-003", photo).status_code == 200


def test_release_touches_only_that_address(
    booth: Booth, photo: bytes, staff_client: Client
) -> None:
    other = Booth()
    lock_out(booth, photo)
    lock_out(other, photo)

    staff_client.delete(f"/api/stats/refused-addresses/{booth.address}")

    listed = staff_client.get("/api/stats/refused-addresses").json()["addresses"]
    assert [refused["address"] for refused in listed] == [other.address]
    assert other.post_photo("slot-003", photo).status_code == 429


def test_anonymous_can_neither_list_nor_release(booth: Booth, photo: bytes) -> None:
    lock_out(booth, photo)
    anonymous = Client()

    assert anonymous.get("/api/stats/refused-addresses").status_code == 401
    assert anonymous.delete(f"/api/stats/refused-addresses/{booth.address}").status_code == 401
    page = anonymous.post("/admin/stats/refused-addresses/release", {"address": booth.address})
    assert page.status_code == 302
    assert page["Location"].startswith("/admin/login/")
    assert booth.post_photo("slot-003", photo).status_code == 429


@pytest.fixture
def redis_cache(settings: object) -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }


def test_the_list_keeps_the_latest_few_hundred_addresses(redis_cache: None) -> None:
    limit = FailureLimit(
        name="list-bound",
        limit=5,
        window_seconds=300,
        block_seconds=30,
        budget=100,
        listed=True,
        message="refused",
    )
    addresses = [f"192.0.2.{n % 250}-{n}" for n in range(INDEX_SIZE + 20)]
    for address in addresses:
        limit.record_failure(address, tried="slot-001", reason="wrong_password")

    listed = [refused.client for refused in limit.refused()]

    assert len(listed) == INDEX_SIZE
    assert set(listed) == set(addresses[-INDEX_SIZE:])


def test_the_list_is_kept_in_redis_when_configured(
    booth: Booth, photo: bytes, staff_client: Client, redis_cache: None
) -> None:
    lock_out(booth, photo)

    listed = staff_client.get("/api/stats/refused-addresses").json()["addresses"]
    keys = redis.Redis.from_url(REDIS_URL).keys("*throttle:ingest-password:*")

    assert [refused["address"] for refused in listed] == [booth.address]
    assert keys  # another worker process reads the same list
    staff_client.delete(f"/api/stats/refused-addresses/{booth.address}")
    assert booth.post_photo("slot-003", photo).status_code == 200
