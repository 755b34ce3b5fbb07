"""Secrets kept in the database (provider API keys), encrypted at rest.

The key is derived from the installation's SECRET_KEY, which lives outside the database (the
environment or the data folder): a copy of the database alone does not give the provider keys
away. Fernet (from ``cryptography``, which daphne's WebSocket library needs anyway) authenticates
as well as encrypts, so a value that was tampered with, or stored under another SECRET_KEY,
reads as unreadable rather than as a wrong key sent to a provider.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Marks an encrypted value, so values stored before encryption can still be recognised.
ENCRYPTED_PREFIX = "fernet:"


def secret_encrypt(plaintext: str) -> str:
    """The value to store for ``plaintext``; empty stays empty (nothing is set)."""
    if not plaintext:
        return ""
    token = _fernet(settings.SECRET_KEY).encrypt(plaintext.encode())
    return ENCRYPTED_PREFIX + token.decode("ascii")


def secret_decrypt(stored: str) -> str | None:
    """The plaintext of a stored value; None when it cannot be read (SECRET_KEY changed)."""
    if not stored:
        return ""
    if not stored.startswith(ENCRYPTED_PREFIX):
        return stored  # stored before encryption; the next save encrypts it
    try:
        plaintext = _fernet(settings.SECRET_KEY).decrypt(stored.removeprefix(ENCRYPTED_PREFIX))
    except InvalidToken:
        return None
    return plaintext.decode()


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"photochanger",
        info=b"provider api keys at rest",
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))
