"""The production settings of deploy/production.env.example pass Django's deployment checks,
and the HTTPS switches leave loopback monitoring alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.deploy.commands import manage
from tests.live import REPO

PRODUCTION_ENV = REPO / "deploy" / "production.env.example"


def production_values() -> dict[str, str]:
    values = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, equals, value = line.partition("=")
            assert equals, f"not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path: Path) -> None:
    # Only the folders move into the test's own; every other value is the file's.
    env = {
        "PATH": "/usr/bin:/bin",
        **production_values(),
        "DATA_DIR": str(tmp_path),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_SETTINGS_MODULE": "photochanger.settings",
    }

    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_the_example_sets_what_production_needs() -> None:
    values = production_values()

    assert values["DEBUG"] == "false"
    assert values["BEHIND_HTTPS_PROXY"] == "true"
    assert values["ALLOWED_HOSTS"] not in ("", "*")
    assert values["DATABASE_URL"].startswith("postgres://")
    assert values["REDIS_URL"].startswith("redis://")
    assert int(values["SECURE_HSTS_SECONDS"]) > 0


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_https_redirect_spares_health_and_metrics_on_loopback() -> None:
    client = Client()

    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    redirect = client.get("/admin/login/")
    assert redirect.status_code == 301
    assert redirect["Location"].startswith("https://")
