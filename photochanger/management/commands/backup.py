"""python manage.py backup ARCHIVE: the database, the media and the secret key in one .tar.gz.

Safe while the server runs (SQLite's backup API and pg_dump take a consistent snapshot). Prints
one summary line; exit status 1 with one line on stderr when it cannot be done.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from photochanger.backups import BackupError, backup_write, secret_key_from_environment

EXIT_FAILED = 1


class Command(BaseCommand):
    help = "Back up the database, the media files and the secret key into a .tar.gz archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="the .tar.gz file to write")
        parser.add_argument(
            "--json",
            dest="portable",
            action="store_true",
            help="the database as Django's JSON (any database can restore it, e.g. moving "
            "from SQLite to PostgreSQL) instead of its own format",
        )

    def handle(self, *args: object, archive: Path, portable: bool, **options: object) -> None:
        try:
            summary = backup_write(archive=archive, portable=portable)
        except BackupError as error:
            self.stderr.write(f"backup: {error}")
            raise SystemExit(EXIT_FAILED) from None
        key = "the secret key" if summary.secret_key else "no secret key file"
        self.stdout.write(
            f"backup: wrote {archive} (database as {summary.database_format}, "
            f"{summary.media_files} media file(s), {summary.media_bytes} bytes, {key})"
        )
        if secret_key_from_environment():
            self.stdout.write(
                "backup: SECRET_KEY comes from the environment: keep it with this archive"
            )
