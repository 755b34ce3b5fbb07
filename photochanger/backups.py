"""An installation in one .tar.gz: the database, the media and the secret key.

The secret key belongs with the rest: provider API keys staff set in the admin are stored
encrypted with it (photochanger.encryption), and sessions and API tokens are signed with it.

Inside the archive:

* ``manifest.json``: what the archive holds (see ``_manifest``), first, so it is read early;
* the database, in one of three formats: ``database.sqlite3`` (a copy made with SQLite's online
  backup API, consistent while the server runs), ``database.dump`` (``pg_dump``'s custom format)
  or ``database.json`` (Django's ``dumpdata`` with natural keys: any database can load it, so it
  also moves an installation from SQLite to PostgreSQL);
* ``media/<name>``: every file of the media storage but uploads in flight;
* ``secret_key``: the key file of the data folder, when there is one.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.db import DatabaseError, connection, connections

from photochanger.database import DatabaseUnavailable, database_description, database_ensure

ARCHIVE_FORMAT = "photochanger-backup"
ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
SECRET_KEY_MEMBER = "secret_key"  # noqa: S105 (a file name)
MEDIA_PREFIX = "media/"
DATABASE_FILES = {
    "sqlite3": "database.sqlite3",
    "pg_dump": "database.dump",
    "json": "database.json",
}
# Django's bookkeeping, filled by every migrate: rows here do not make a database "in use".
MIGRATION_TABLES = {"django_migrations", "django_content_type", "auth_permission"}
# Models whose rows migrate and flush recreate; a JSON backup refers to them by natural key.
JSON_EXCLUDED = ["contenttypes", "auth.permission"]
# libpq settings Django takes from DATABASES OPTIONS, for pg_dump and pg_restore.
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
}


class BackupError(Exception):
    """The backup or the restore cannot be done; the message is one line."""


@dataclass(frozen=True)
class BackupSummary:
    database_format: str
    media_files: int
    media_bytes: int
    secret_key: bool


def backup_write(*, archive: Path, portable: bool = False) -> BackupSummary:
    """Write the database, the media files and the secret key file to ``archive``.

    The database is copied in its own format (SQLite's backup API, ``pg_dump`` when it is on
    PATH), or as Django's JSON when ``portable`` is asked for or ``pg_dump`` is missing. The
    archive is written beside its final name and renamed when complete, readable by its owner
    only: it holds the secret key."""
    try:
        database_ensure(create=False)
    except DatabaseUnavailable as error:
        raise BackupError(str(error)) from None
    database_format = _database_format_for_backup(portable=portable)
    media = list(_media_sizes())
    key_file = _secret_key_file()
    has_key = key_file.is_file()
    partial = archive.with_name(archive.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="photochanger-backup-") as work:
        database_file = Path(work) / DATABASE_FILES[database_format]
        _database_dump(database_format, database_file)
        manifest = _manifest(database_format, media, secret_key=has_key)
        written = []
        try:
            with _private_file(partial) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
                tar.add(database_file, arcname=database_file.name)
                for name, size in media:
                    if _add_stored_file(tar, name, size):
                        written.append(size)
                if has_key:
                    tar.add(key_file, arcname=SECRET_KEY_MEMBER)
            os.replace(partial, archive)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise BackupError(f"cannot write {archive}: {error.strerror or error}") from None
    return BackupSummary(database_format, len(written), sum(written), has_key)


def backup_restore(*, archive: Path, force: bool = False) -> BackupSummary:
    """Put back what ``archive`` holds: the database, the media files and the secret key file.

    Refuses (before changing anything) when the database holds rows beyond Django's own
    bookkeeping (a database ``serve`` has migrated does: its 15 slots) or the media folder holds
    files, unless ``force``: then both are replaced whole. A PostgreSQL database that does not
    exist yet is created first."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            return _restore_from(tar, archive, force=force)
    except (OSError, EOFError, tarfile.TarError) as error:
        reason = getattr(error, "strerror", None) or error
        raise BackupError(f"cannot restore from {archive}: {reason}") from None


def _restore_from(tar: tarfile.TarFile, archive: Path, *, force: bool) -> BackupSummary:
    manifest = _manifest_read(tar, archive)
    database_format = manifest["database"]["format"]
    _database_format_check(database_format)
    media_members = _media_members(tar, archive)
    try:
        database_ensure()
    except DatabaseUnavailable as error:
        raise BackupError(str(error)) from None
    in_use = _tables_with_rows()
    present = list(_media_names())
    if (in_use or present) and not force:
        raise BackupError(_occupied_message(in_use, present))
    with tempfile.TemporaryDirectory(prefix="photochanger-restore-") as work:
        database_file = Path(work) / DATABASE_FILES[database_format]
        _extract(tar, DATABASE_FILES[database_format], database_file)
        _database_load(database_format, database_file)
    for name in present:
        default_storage.delete(name)
    restored = 0
    for member in media_members:
        restored += _restore_stored_file(tar, member)
    has_key = _member(tar, SECRET_KEY_MEMBER) is not None
    if has_key:
        _secret_key_restore(tar)
    return BackupSummary(database_format, len(media_members), restored, has_key)


def secret_key_from_environment() -> bool:
    """True when SECRET_KEY is set in the environment (or .env): the key file is then unused."""
    return bool(os.environ.get("SECRET_KEY"))


# The database


def _database_format_for_backup(*, portable: bool) -> str:
    if portable:
        return "json"
    if connection.vendor == "sqlite":
        return "sqlite3"
    if connection.vendor == "postgresql" and shutil.which("pg_dump"):
        return "pg_dump"
    return "json"


def _database_format_check(database_format: str) -> None:
    if database_format == "sqlite3" and connection.vendor != "sqlite":
        raise BackupError(
            f"the archive holds a SQLite database and this installation uses "
            f"{database_description()}; make a portable one with `manage.py backup --json`"
        )
    if database_format == "pg_dump":
        if connection.vendor != "postgresql":
            raise BackupError(
                f"the archive holds a PostgreSQL dump and this installation uses "
                f"{database_description()}; make a portable one with `manage.py backup --json`"
            )
        if not shutil.which("pg_restore"):
            raise BackupError(
                "the archive holds a pg_dump database and pg_restore is not on PATH "
                "(install PostgreSQL's client programs)"
            )


def _database_dump(database_format: str, target: Path) -> None:
    if database_format == "sqlite3":
        source_path = Path(connection.settings_dict["NAME"])
        if not source_path.is_file():
            raise BackupError(f"there is no database to back up at {source_path}")
        _sqlite_copy(source_path, target)
    elif database_format == "pg_dump":
        _pg_run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"])
    else:
        try:
            call_command(
                "dumpdata",
                natural_foreign=True,
                natural_primary=True,
                exclude=JSON_EXCLUDED,
                output=str(target),
                verbosity=0,
            )
        except DatabaseError as error:
            raise BackupError(f"cannot read {database_description()}: {error}") from None


def _database_load(database_format: str, source: Path) -> None:
    if database_format == "sqlite3":
        connections.close_all()
        # The backup API replaces the whole target database, whatever it held.
        _sqlite_copy(source, Path(connection.settings_dict["NAME"]))
    elif database_format == "pg_dump":
        # pg_restore creates every table itself, so none may be there (empty or not).
        _tables_drop()
        connections.close_all()
        _pg_run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={connection.settings_dict['NAME']}",
                str(source),
            ]
        )
    else:
        # The migrations build the tables (and seed the slots), flush empties them (content
        # types and permissions come back with it), then the backup's rows go in.
        call_command("migrate", interactive=False, verbosity=0)
        call_command("flush", interactive=False, verbosity=0)
        call_command("loaddata", str(source), verbosity=0)


def _sqlite_copy(source_path: Path, target_path: Path) -> None:
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)
    except sqlite3.Error as error:
        raise BackupError(f"cannot copy the SQLite database: {error}") from None
    finally:
        target.close()
        source.close()


def _tables_with_rows() -> list[str]:
    """Tables holding rows beyond what migrations put in every database."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table in MIGRATION_TABLES:
                continue
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # noqa: S608
            if cursor.fetchone():
                found.append(table)
    return found


def _tables_drop() -> None:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)} CASCADE")


def _pg_run(command: list[str]) -> None:
    """Run pg_dump or pg_restore on the configured database; the password goes through the
    environment, never the command line (other users can read that)."""
    database = connection.settings_dict
    environment = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    for key, variable in [
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
        ("NAME", "PGDATABASE"),
    ]:
        if database[key]:
            environment[variable] = str(database[key])
    for option, variable in LIBPQ_OPTIONS.items():
        if option in database["OPTIONS"]:
            environment[variable] = str(database["OPTIONS"][option])
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{command[0]} failed: {lines[0] if lines else done.returncode}")


# The media


def _uploads_in_flight() -> str | None:
    """The upload folder's name inside the media storage, when it lies there (settings put
    FILE_UPLOAD_TEMP_DIR in MEDIA_ROOT): half-received photos are no part of a backup."""
    if not isinstance(default_storage, FileSystemStorage) or not settings.FILE_UPLOAD_TEMP_DIR:
        return None
    uploads = Path(settings.FILE_UPLOAD_TEMP_DIR).resolve()
    location = Path(default_storage.location).resolve()
    return uploads.relative_to(location).as_posix() if uploads.is_relative_to(location) else None


def _media_names(directory: str = "") -> Iterator[str]:
    """Every file of the media storage but uploads in flight, walked with ``listdir``."""
    if directory and directory == _uploads_in_flight():
        return
    try:
        subdirectories, files = default_storage.listdir(directory)
    except FileNotFoundError:
        return
    for file in files:
        yield posixpath.join(directory, file)
    for subdirectory in subdirectories:
        yield from _media_names(posixpath.join(directory, subdirectory))


def _media_sizes() -> Iterator[tuple[str, int]]:
    for name in _media_names():
        try:
            yield name, default_storage.size(name)
        except FileNotFoundError:
            continue  # deleted (cleanup_media) since it was listed


def _add_stored_file(tar: tarfile.TarFile, name: str, size: int) -> bool:
    try:
        stored = default_storage.open(name, "rb")
    except FileNotFoundError:
        return False
    with stored:
        info = tarfile.TarInfo(MEDIA_PREFIX + name)
        info.size = size
        info.mtime = int(datetime.now(UTC).timestamp())
        info.mode = 0o640
        tar.addfile(info, stored)
    return True


def _media_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = []
    for member in tar.getmembers():
        if not member.name.startswith(MEDIA_PREFIX):
            continue
        name = member.name.removeprefix(MEDIA_PREFIX)
        parts = name.split("/")
        if not member.isfile() or name.startswith("/") or ".." in parts or "" in parts:
            raise BackupError(f"{archive} holds an unsafe media entry: {member.name!r}")
        members.append(member)
    return members


def _restore_stored_file(tar: tarfile.TarFile, member: tarfile.TarInfo) -> int:
    name = member.name.removeprefix(MEDIA_PREFIX)
    content = tar.extractfile(member)
    saved = default_storage.save(name, File(content, name=posixpath.basename(name)))
    if saved != name:
        raise BackupError(f"the media storage stored {name} as {saved}")
    return member.size


def _occupied_message(tables: list[str], media: list[str]) -> str:
    held = []
    if tables:
        shown = ", ".join(tables[:4]) + (", …" if len(tables) > 4 else "")
        held.append(f"{database_description()} holds data ({shown})")
    if media:
        held.append(f"the media folder holds {len(media)} file(s)")
    return f"{' and '.join(held)}; pass --force to replace them with the archive's"


# The secret key and the archive itself


def _secret_key_file() -> Path:
    return Path(settings.DATA_DIR) / "secret_key"


def _secret_key_restore(tar: tarfile.TarFile) -> None:
    key_file = _secret_key_file()
    partial = key_file.with_name(key_file.name + ".partial")
    with _private_file(partial) as output:
        output.write(tar.extractfile(SECRET_KEY_MEMBER).read())
    os.replace(partial, key_file)


def _manifest(database_format: str, media: list[tuple[str, int]], *, secret_key: bool) -> dict:
    return {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": {
            "vendor": connection.vendor,
            "format": database_format,
            "file": DATABASE_FILES[database_format],
        },
        "media": {"files": len(media), "bytes": sum(size for _, size in media)},
        "secret_key": secret_key,
    }


def _manifest_read(tar: tarfile.TarFile, archive: Path) -> dict:
    member = _member(tar, MANIFEST)
    try:
        manifest = json.loads(tar.extractfile(member).read()) if member else None
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise BackupError(f"{archive} is not a PhotoChanger backup")
    if manifest.get("version") != ARCHIVE_VERSION:
        raise BackupError(f"{archive} is a backup of version {manifest.get('version')}")
    database_format = manifest.get("database", {}).get("format")
    if database_format not in DATABASE_FILES or not _member(tar, DATABASE_FILES[database_format]):
        raise BackupError(f"{archive} holds no database")
    return manifest


def _member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo | None:
    try:
        member = tar.getmember(name)
    except KeyError:
        return None
    return member if member.isfile() else None


def _extract(tar: tarfile.TarFile, name: str, target: Path) -> None:
    with tar.extractfile(name) as source, target.open("wb") as output:
        shutil.copyfileobj(source, output)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _private_file(path: Path) -> BinaryIO:
    """A new file only its owner may read (O_BINARY: Windows opens files as text otherwise)."""
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags, 0o600), "wb")
