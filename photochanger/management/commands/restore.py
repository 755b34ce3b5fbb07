"""python manage.py restore ARCHIVE [--force]: put back what ``manage.py backup`` wrote.

Stop the server first. A database holding data, or media files, are replaced only with --force.
Prints one summary line; exit status 1 with one line on stderr when it cannot be done (nothing
has changed when it refuses a database in use).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from photochanger.backups import BackupError, backup_restore, secret_key_from_environment

EXIT_FAILED = 1


class Command(BaseCommand):
    help = "Restore the database, the media files and the secret key from a backup archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="a .tar.gz written by manage.py backup")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace a database that holds data and the media files already there",
        )

    def handle(self, *args: object, archive: Path, force: bool, **options: object) -> None:
        try:
            summary = backup_restore(archive=archive, force=force)
        except BackupError as error:
            self.stderr.write(f"restore: {error}")
            raise SystemExit(EXIT_FAILED) from None
        key = "the secret key" if summary.secret_key else "no secret key file"
        self.stdout.write(
            f"restore: restored {archive} (database from {summary.database_format}, "
            f"{summary.media_files} media file(s), {summary.media_bytes} bytes, {key})"
        )
        if summary.secret_key and secret_key_from_environment():
            self.stdout.write(
                "restore: SECRET_KEY is set in the environment, so the restored key file is "
                "not used: set SECRET_KEY to the key this archive was made with"
            )
