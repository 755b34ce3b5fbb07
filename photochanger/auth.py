"""Who may use the staff API: a staff member's session (with CSRF) or their API token, holding
the model permissions the admin would ask for the same action (photochanger.roles)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuthIsStaff

from photochanger.errors import Forbidden
from photochanger.tokens import api_token_user


def permissions_require(user: object, permissions: Iterable[str]) -> None:
    """Forbidden (403) unless ``user`` holds every one of ``permissions``."""
    missing = [name for name in permissions if not user.has_perm(name)]
    if missing:
        raise Forbidden(f"your account's role lacks the permission {', '.join(missing)}")


class StaffToken(HttpBearer):
    def __init__(self, permissions: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.permissions = permissions

    def authenticate(self, request: HttpRequest, token: str) -> object | None:
        user = api_token_user(plaintext=token)
        if user is not None:
            permissions_require(user, self.permissions)
        return user


class StaffSession(SessionAuthIsStaff):
    """A staff session, CSRF-checked. Without a session cookie this method simply does not
    apply (401 unless a token is given), rather than failing the CSRF check (403)."""

    def __init__(self, permissions: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.permissions = permissions

    def __call__(self, request: HttpRequest) -> object | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> object | None:
        user = super().authenticate(request, key)
        if user:
            permissions_require(user, self.permissions)
        return user


def staff_with(*permissions: str) -> list[HttpBearer | SessionAuthIsStaff]:
    """The auth of a staff endpoint that needs ``permissions``: a token or a session of an
    active staff member holding all of them (else 403 forbidden, saying which is missing)."""
    return [StaffToken(permissions), StaffSession(permissions)]


# Any staff member (the routers' default; each endpoint names what it needs on top).
staff_auth = staff_with()
