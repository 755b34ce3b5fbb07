"""python manage.py serve: migrate, make sure an ingest password exists, and run the server."""

from __future__ import annotations

import os
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from ingest.jobs import jobs_close_stale
from photochanger.asgi import application
from photochanger.server import serve
from slots.models import Slot
from slots.services import ingest_password_ensure


class Command(BaseCommand):
    help = "Run PhotoChanger (daphne, HTTP + WebSocket) after applying migrations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--skip-migrate", action="store_true", help="do not apply migrations first"
        )
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            default=os.environ.get("PROXY_HEADERS", "").lower() in ("1", "true", "yes"),
            help="behind a trusted reverse proxy: client address from X-Forwarded-For",
        )

    def handle(
        self,
        *args: object,
        host: str,
        port: int,
        skip_migrate: bool,
        proxy_headers: bool,
        **options: object,
    ) -> None:
        if not skip_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        generated = ingest_password_ensure()
        closed = jobs_close_stale()
        if closed:
            self.stdout.write(f"Closed {closed} job(s) left pending by an earlier stop.")
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Ingest password (shown once; set INGEST_PASSWORD to choose): {generated}"
                )
            )
        ready = ", ".join(Slot.objects.filter(is_active=True).values_list("id", flat=True))
        self.stdout.write(f"Active slots: {ready or 'none'}")

        def on_ready(addresses: list[tuple[str, int]]) -> None:
            for address_host, address_port in addresses:
                shown = "127.0.0.1" if address_host in ("0.0.0.0", "::") else address_host  # noqa: S104
                self.stdout.write(f"PhotoChanger listening on http://{shown}:{address_port}/")
            sys.stdout.flush()

        serve(
            application=application,
            host=host,
            port=port,
            on_ready=on_ready,
            proxy_headers=proxy_headers,
        )
