"""python manage.py serve: make sure the database exists, migrate, make sure an ingest password
exists, and run the server.

A database that cannot be used stops it at once with one line on stderr and exit status 2 (as
``cleanup_media``): a service manager shows that line, and a restart loop does not hide a
traceback per attempt.
"""

from __future__ import annotations

import asyncio
import os
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from ingest.jobs import jobs_close_stale
from ingest.workers import worker_register, worker_watch_start
from media.services import staged_results_resume
from photochanger.asgi import application
from photochanger.database import DatabaseUnavailable, database_description, database_ensure
from photochanger.server import serve
from slots.readiness import active_slots_missing
from slots.services import ingest_password_ensure

EXIT_DATABASE_UNAVAILABLE = 2


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
        try:
            created = database_ensure()
        except DatabaseUnavailable as error:
            self.stderr.write(f"serve: {error}")
            raise SystemExit(EXIT_DATABASE_UNAVAILABLE) from None
        if created:
            self.stdout.write(f"Created {database_description()}.")
        if not skip_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        generated = ingest_password_ensure()
        # This process's jobs are its own from here on; those of stopped processes are closed
        # now if they are past their deadline, and later by the watch started below.
        worker_register()
        closed = jobs_close_stale()
        if closed:
            self.stdout.write(f"Closed {closed} job(s) left pending by an earlier stop.")
        if resumed := staged_results_resume():
            self.stdout.write(f"Sending {resumed} result(s) an earlier stop left to the bucket.")
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Ingest password (shown once; set INGEST_PASSWORD to choose): {generated}"
                )
            )
        self._active_slots_report()

        def on_ready(addresses: list[tuple[str, int]]) -> None:
            # daphne has made its event loop the current one; it runs once this returns.
            worker_watch_start(loop=asyncio.get_event_loop())
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

    def _active_slots_report(self) -> None:
        """The active slots, and what each one that is not ready lacks (its first guest would
        get an error)."""
        missing_by_slot = active_slots_missing()
        ready = [slot_id for slot_id, missing in missing_by_slot.items() if not missing]
        self.stdout.write(f"Active slots: {', '.join(ready) or 'none'}")
        for slot_id, missing in missing_by_slot.items():
            if missing:
                line = f"Active slot {slot_id} is NOT READY: {' '.join(missing)}"
                self.stdout.write(self.style.WARNING(line))
