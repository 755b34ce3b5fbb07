"""The configured database, made ready before anything borrows a connection from the pool.

Django's PostgreSQL pool retries a failing connection until its timeout (10 s, settings.py) and
then raises with a traceback: a missing database or a stopped server looked like a hang. Here
one direct connection, with a short connect timeout, says at once what is wrong, and a database
that does not exist yet is created the way ``createdb`` would (through the server's ``postgres``
maintenance database, with the same credentials).
"""

from __future__ import annotations

import re

import psycopg
from django.db import connections
from psycopg import errors, sql

# libpq's own minimum; an address that does not answer costs this long per attempt.
CONNECT_TIMEOUT_SECONDS = 3
MAINTENANCE_DATABASE = "postgres"


class DatabaseUnavailable(Exception):
    """The database cannot be used; the message is one line, without the password."""


def database_ensure(*, alias: str = "default", create: bool = True) -> bool:
    """Make sure the configured PostgreSQL database answers, creating it (unless not
    ``create``) when the server has no database of that name. Returns True when it was
    created. Raises DatabaseUnavailable when the server cannot be reached, refuses the
    credentials, or the role may not create the database. SQLite needs nothing: it creates its
    file on the first connection."""
    wrapper = connections[alias]
    if wrapper.vendor != "postgresql":
        return False
    settings = wrapper.settings_dict
    params = wrapper.get_connection_params()
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    name = params.get("dbname") or settings["NAME"]
    where = database_description(alias=alias)
    try:
        psycopg.connect(**params).close()
        return False
    except psycopg.Error as error:
        first_error = error
    if not create:
        raise DatabaseUnavailable(f"cannot connect to {where}: {_reason(first_error, settings)}")
    try:
        with psycopg.connect(**{**params, "dbname": MAINTENANCE_DATABASE}) as maintenance:
            maintenance.autocommit = True
            found = maintenance.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if found:
                # It exists, so the first failure was something else (a permission, a limit).
                raise DatabaseUnavailable(f"cannot use {where}: {_reason(first_error, settings)}")
            maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except errors.DuplicateDatabase:
        return False  # another process created it in the meantime
    except errors.InsufficientPrivilege as error:
        raise DatabaseUnavailable(
            f'{where} does not exist and role "{settings["USER"] or "(default)"}" may not '
            f"create it: {_reason(error, settings)}"
        ) from None
    except psycopg.Error:
        raise DatabaseUnavailable(
            f"cannot connect to {where}: {_reason(first_error, settings)}"
        ) from None
    return True


def database_description(*, alias: str = "default") -> str:
    """Where the database is, for messages: server address and database name, no password."""
    settings = connections[alias].settings_dict
    if connections[alias].vendor != "postgresql":
        return f"the {connections[alias].vendor} database {settings['NAME']}"
    host = settings["HOST"] or "localhost"
    return f'PostgreSQL at {host}:{settings["PORT"] or 5432}, database "{settings["NAME"]}"'


def _reason(error: psycopg.Error, settings: dict) -> str:
    """libpq's reason on one line: 'connection to server at "h", port p failed: FATAL:  x'
    becomes 'x'."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = lines[0] if lines else type(error).__name__
    reason = re.sub(r"^.*failed:\s*", "", reason)
    reason = re.sub(r"^(FATAL|ERROR):\s*", "", reason)
    if settings["PASSWORD"]:
        reason = reason.replace(settings["PASSWORD"], "***")
    return reason
