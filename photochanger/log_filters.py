"""Filters for the server's log (settings.LOGGING)."""

from __future__ import annotations

import logging

# What a provider did (502 provider_error, 504 provider_timeout): the job's own log line says it
# already, and it is the provider's trouble, not ours. ERROR stays for our own faults (500).
_PROVIDER_STATUSES = frozenset({502, 504})


class ProviderFailuresAsWarnings(logging.Filter):
    """Django's line for an answer a provider caused, at WARNING rather than ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in _PROVIDER_STATUSES:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True
