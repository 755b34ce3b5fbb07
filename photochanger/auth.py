"""Who may use the staff API: a staff member's session (with CSRF) or their API token."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuthIsStaff

from photochanger.tokens import api_token_user


class StaffToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> object | None:
        return api_token_user(plaintext=token)


class StaffSession(SessionAuthIsStaff):
    """A staff session, CSRF-checked. Without a session cookie this method simply does not
    apply (401 unless a token is given), rather than failing the CSRF check (403)."""

    def __call__(self, request: HttpRequest) -> object | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super().__call__(request)


staff_auth = [StaffToken(), StaffSession()]
