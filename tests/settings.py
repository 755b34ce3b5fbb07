"""The settings the test suite runs with: the product's, with a fast password hasher.

Django's own advice for test suites: every staff login and ingest password a test makes or
checks would otherwise pay PBKDF2's deliberate slowness. The live server the wire tests start
(tests/live.py) runs with these settings too, so it can check the hashes the tests store.
"""

from photochanger.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
