"""Wrong ingest passwords: a short block that heals, an hourly budget, and the old password named.

The block and the budget are settings, made small here so that healing takes a second of real
time; the numbers themselves are in photochanger/throttle.py.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from slots.models import GlobalSettings
from slots.services import ingest_password_set
from tests.booth import INGEST_PASSWORD, Booth

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "booth-secret-456"


GUESS = "guess"


def wrong_passwords(booth: Booth, photo: bytes, count: int, *, password: str = GUESS) -> None:
    for _ in range(count):
        assert booth.post_photo("slot-001", photo, password=password).status_code == 401


def test_a_burst_of_wrong_passwords_blocks_for_at_most_30_seconds(
    booth: Booth, photo: bytes
) -> None:
    wrong_passwords(booth, photo, django_settings.INGEST_PASSWORD_FAILURES)

    refused = booth.post_photo("slot-001", photo)

    assert refused.status_code == 429
    assert refused.json()["failure_reason"] == "rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= 30
    assert 0 < refused.json()["retry_after"] <= 30


def test_a_booth_given_the_right_password_works_again_once_the_block_ends(
    booth: Booth, photo: bytes, settings: object
) -> None:
    settings.INGEST_PASSWORD_BLOCK_SECONDS = 1
    wrong_passwords(booth, photo, settings.INGEST_PASSWORD_FAILURES)
    assert booth.post_photo("slot-001", photo).status_code == 429

    time.sleep(1.2)
    healed = booth.post_photo("slot-001", photo)

    assert healed.status_code == 200


def test_the_right_password_starts_the_count_of_wrong_ones_again(
    booth: Booth, photo: bytes
) -> None:
    almost = django_settings.INGEST_PASSWORD_FAILURES - 1
    wrong_passwords(booth, photo, almost)
    assert booth.post_photo("slot-001", photo).status_code == 200

    wrong_passwords(booth, photo, almost)  # 401 each time: the earlier ones were forgotten

    assert booth.post_photo("slot-001", photo).status_code == 200


def test_a_guesser_gets_no_more_than_100_tries_an_hour(
    booth: Booth, photo: bytes, settings: object
) -> None:
    settings.INGEST_PASSWORD_FAILURES = 1000  # no short blocks: only the hourly budget counts
    wrong_passwords(booth, photo, 100)

    refused = booth.post_photo("slot-001", photo, password="guess")
    right_one = booth.post_photo("slot-001", photo)

    assert refused.status_code == 429
    assert right_one.status_code == 429  # until the hour ends
    assert 30 < int(right_one.headers["retry-after"]) <= 3600


def test_past_the_hourly_budget_the_block_lasts_until_the_hour_ends(
    booth: Booth, photo: bytes, settings: object
) -> None:
    settings.INGEST_PASSWORD_FAILURES = 3
    settings.INGEST_PASSWORD_BLOCK_SECONDS = 1
    settings.INGEST_PASSWORD_HOURLY_FAILURES = 5
    wrong_passwords(booth, photo, 3)
    assert booth.post_photo("slot-001", photo).status_code == 429
    time.sleep(1.2)

    wrong_passwords(booth, photo, 2)  # the 5th of the hour
    time.sleep(1.2)  # longer than the short block
    refused = booth.post_photo("slot-001", photo)

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 3000


def test_the_budget_is_per_address(booth: Booth, photo: bytes, settings: object) -> None:
    settings.INGEST_PASSWORD_FAILURES = 1000
    settings.INGEST_PASSWORD_HOURLY_FAILURES = 5
    wrong_passwords(booth, photo, 5)
    other_booth = Booth()

    assert booth.post_photo("slot-001", photo).status_code == 429
    assert other_booth.post_photo("slot-001", photo).status_code == 200


def test_the_old_password_is_refused_saying_it_was_changed(booth: Booth, photo: bytes) -> None:
    ingest_password_set(password=NEW_PASSWORD, set_by="tests")
    changed_at = timezone.localtime(GlobalSettings.objects.get().ingest_password_set_at)

    old = booth.post_photo("slot-001", photo, password=INGEST_PASSWORD)
    wrong = booth.post_photo("slot-001", photo, password="guess")

    assert old.status_code == wrong.status_code == 401
    assert old.json()["failure_reason"] == wrong.json()["failure_reason"] == "invalid_password"
    assert old.json().keys() == wrong.json().keys()
    assert old.json()["details"] == (
        f"the ingest password was changed at {changed_at:%H:%M %Z}; update the booth"
    )
    assert wrong.json()["details"] == "wrong password"
    assert booth.post_photo("slot-001", photo, password=NEW_PASSWORD).status_code == 200


def test_the_old_password_in_the_url_is_named_too(booth: Booth, photo: bytes) -> None:
    ingest_password_set(password=NEW_PASSWORD, set_by="tests")

    old = booth.post_photo("slot-001", photo, password=None, query={"password": INGEST_PASSWORD})

    assert old.status_code == 401
    assert "the ingest password was changed at" in old.json()["details"]


def test_a_booth_with_the_old_password_uses_none_of_the_hourly_budget(
    booth: Booth, photo: bytes, settings: object
) -> None:
    settings.INGEST_PASSWORD_FAILURES = 1000
    settings.INGEST_PASSWORD_HOURLY_FAILURES = 3
    ingest_password_set(password=NEW_PASSWORD, set_by="tests")
    wrong_passwords(booth, photo, 6, password=INGEST_PASSWORD)

    updated = booth.post_photo("slot-001", photo, password=NEW_PASSWORD)

    assert updated.status_code == 200
