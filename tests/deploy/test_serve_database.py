"""manage.py serve with a PostgreSQL database that is missing or out of reach (real server)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import connection
from psycopg import sql

from tests.deploy.commands import command_env, manage, postgres_url, serve_until_listening

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the PostgreSQL run covers it"
)


def server_connection(database: str = "postgres") -> psycopg.Connection:
    """A connection to the suite's PostgreSQL server, to its maintenance database by default."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=database,
        autocommit=True,
    )


@pytest.fixture
def new_database_name() -> Iterator[str]:
    name = f"photochanger_serve_{uuid.uuid4().hex[:12]}"
    yield name
    with server_connection() as server:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def role_without_createdb() -> Iterator[tuple[str, str]]:
    role, password = f"photochanger_nocreate_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with server_connection() as server:
        server.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    yield role, password
    with server_connection() as server:
        server.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@on_postgresql
@pytest.mark.django_db
def test_a_missing_database_is_created_and_the_server_comes_up(
    new_database_name: str, tmp_path: Path
) -> None:
    env = command_env(
        data_dir=tmp_path,
        media_root=tmp_path / "media",
        DATABASE_URL=postgres_url(new_database_name),
    )

    serving = serve_until_listening(env)
    try:
        assert serving.process.returncode is None, "\n".join(serving.lines)
        address = re.search(r"listening on (http://\S+)", serving.lines[-1]).group(1)
        health = httpx.get(f"{address.rstrip('/')}/healthz", timeout=30)
    finally:
        serving.stop()

    assert f'database "{new_database_name}"' in serving.lines[0]
    assert serving.lines[0].startswith("Created PostgreSQL at ")
    assert health.status_code == 200, health.text
    with server_connection(new_database_name) as created:
        assert created.execute("SELECT count(*) FROM slots_slot").fetchone() == (15,)


def test_an_unreachable_postgresql_stops_serve_at_once_with_one_line(tmp_path: Path) -> None:
    env = command_env(
        data_dir=tmp_path,
        media_root=tmp_path / "media",
        DATABASE_URL="postgres://photochanger:secret-password-123@127.0.0.1:1/photochanger",
    )

    done = manage("serve", "--host", "127.0.0.1", "--port", "0", env=env)

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        'serve: cannot connect to PostgreSQL at 127.0.0.1:1, database "photochanger": '
        "Connection refused"
    ]
    assert "secret-password-123" not in done.stdout + done.stderr


@on_postgresql
@pytest.mark.django_db
def test_a_role_that_may_not_create_the_database_stops_serve_with_one_line(
    role_without_createdb: tuple[str, str], new_database_name: str, tmp_path: Path
) -> None:
    role, password = role_without_createdb
    env = command_env(
        data_dir=tmp_path,
        media_root=tmp_path / "media",
        DATABASE_URL=postgres_url(new_database_name, user=role, password=password),
    )

    done = manage("serve", "--host", "127.0.0.1", "--port", "0", env=env)

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("serve: PostgreSQL at ")
    assert f'database "{new_database_name}" does not exist and role "{role}" may not create' in (
        line
    )
    assert password not in done.stdout + done.stderr
