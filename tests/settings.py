"""The settings the test suite runs with: the product's, with a fast password hasher.

Django's own advice for test suites: every staff login and ingest password a test makes or
checks would otherwise pay PBKDF2's deliberate slowness. The live server the wire tests start
(tests/live.py) runs with these settings too, so it can check the hashes the tests store.
"""

import os

from photochanger.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The suite writes the booth request log when a test looks (request_log.flush()); a live
# server (tests/live.py) writes its own every second, as in production.
BOOTH_REQUEST_LOG_SECONDS = float(os.environ.get("BOOTH_REQUEST_LOG_SECONDS", "0"))
