"""API tokens in the admin: created for the staff member, shown once, deletable."""

from __future__ import annotations

import html
import re

from django.test import Client

from photochanger.models import ApiToken
from photochanger.tokens import api_token_user

TOKENS = "/admin/photochanger/apitoken/"


def test_a_new_token_is_shown_once_and_belongs_to_its_creator(
    staff: Client, staff_user: object
) -> None:
    response = staff.post(TOKENS + "add/", {"name": "stats screen"}, follow=True)

    page = html.unescape(response.content.decode())
    shown = re.findall(r"it is not shown again: (pc_[\w-]+)", page)
    assert len(shown) == 1
    token = ApiToken.objects.get()
    assert (token.name, token.user) == ("stats screen", staff_user)
    assert api_token_user(plaintext=shown[0]) == staff_user
    assert shown[0] not in staff.get(TOKENS).content.decode()
    assert shown[0] not in staff.get(f"{TOKENS}{token.pk}/change/").content.decode()


def test_the_token_list_shows_name_owner_and_prefix(staff: Client) -> None:
    staff.post(TOKENS + "add/", {"name": "stats screen"})
    token = ApiToken.objects.get()

    page = html.unescape(staff.get(TOKENS).content.decode())

    assert "stats screen" in page
    assert "operator" in page
    assert f"{token.prefix}…" in page


def test_a_token_can_be_deleted(staff: Client) -> None:
    staff.post(TOKENS + "add/", {"name": "old"})
    token = ApiToken.objects.get()

    response = staff.post(f"{TOKENS}{token.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ApiToken.objects.exists()
