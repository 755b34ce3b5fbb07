"""Staff members' API tokens: made once, shown once, kept only as a digest."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from photochanger.models import ApiToken

API_TOKEN_PREFIX = "pc_"  # noqa: S105 (a visible marker, not a secret)


def api_token_create(
    *, user: object, name: str, token: ApiToken | None = None
) -> tuple[ApiToken, str]:
    """A new API token for ``user`` (saved into ``token`` when given, as the admin's add form
    hands one); the plaintext is returned once and never stored."""
    plaintext = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = token or ApiToken()
    token.user = user
    token.name = name
    token.token_sha256 = hashlib.sha256(plaintext.encode()).hexdigest()
    token.prefix = plaintext[: len(API_TOKEN_PREFIX) + 5]
    token.save()
    return token, plaintext


def api_token_user(*, plaintext: str) -> object | None:
    """The active staff user a token belongs to, or None."""
    digest = hashlib.sha256(plaintext.encode()).hexdigest()
    token = ApiToken.objects.select_related("user").filter(token_sha256=digest).first()
    if token is None or not (token.user.is_active and token.user.is_staff):
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
