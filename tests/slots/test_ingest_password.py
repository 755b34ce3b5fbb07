"""The ingest password: stored hashed, checked fast, replaced at once."""

from __future__ import annotations

import pytest
from django.conf import global_settings
from django.test import override_settings

from slots.models import GlobalSettings
from slots.services import (
    ingest_password_check,
    ingest_password_ensure,
    ingest_password_set,
    settings_get,
)

pytestmark = pytest.mark.django_db


def stored_hash() -> str:
    return GlobalSettings.objects.get(pk=1).ingest_password_hash


# The product's hashers, not the fast one the suite runs with (tests/settings.py).
@override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS)
def test_password_is_stored_hashed() -> None:
    ingest_password_set(password="booth-pass-1", set_by="staff")
    assert "booth-pass-1" not in stored_hash()
    assert stored_hash().startswith("pbkdf2_sha256$")


def test_right_password_passes_and_wrong_one_fails_before_and_after_caching() -> None:
    ingest_password_set(password="booth-pass-1", set_by="staff")
    assert not ingest_password_check(stored_hash=stored_hash(), candidate="nope")
    assert ingest_password_check(stored_hash=stored_hash(), candidate="booth-pass-1")
    assert ingest_password_check(stored_hash=stored_hash(), candidate="booth-pass-1")
    assert not ingest_password_check(stored_hash=stored_hash(), candidate="nope")


def test_a_new_password_stops_the_old_one_at_once() -> None:
    ingest_password_set(password="old-password", set_by="staff")
    assert ingest_password_check(stored_hash=stored_hash(), candidate="old-password")

    ingest_password_set(password="new-password", set_by="staff")

    assert not ingest_password_check(stored_hash=stored_hash(), candidate="old-password")
    assert ingest_password_check(stored_hash=stored_hash(), candidate="new-password")


def test_no_password_set_lets_nothing_in() -> None:
    settings_get()
    assert not ingest_password_check(stored_hash=stored_hash(), candidate="")


@override_settings(INGEST_PASSWORD="")
def test_first_start_generates_a_password_once() -> None:
    generated = ingest_password_ensure()
    assert generated
    assert ingest_password_check(stored_hash=stored_hash(), candidate=generated)
    assert ingest_password_ensure() is None


@override_settings(INGEST_PASSWORD="from-the-env")
def test_password_from_the_environment_is_applied() -> None:
    assert ingest_password_ensure() is None
    assert ingest_password_check(stored_hash=stored_hash(), candidate="from-the-env")
    assert GlobalSettings.objects.get().ingest_password_set_by == "environment"


def test_password_staff_chose_is_not_overwritten_by_the_environment() -> None:
    ingest_password_set(password="chosen-in-admin", set_by="alice")
    with override_settings(INGEST_PASSWORD="from-the-env"):
        ingest_password_ensure()
    assert ingest_password_check(stored_hash=stored_hash(), candidate="chosen-in-admin")
