"""Stored files as one ZIP archive, built while it is sent.

The standard library's ``zipfile`` writes to a stream it cannot seek (each member's sizes go
in a descriptor after its data), so the archive never exists whole, in memory or on disk:
whatever the number of photos, the server holds one chunk of one file at a time. Members are
stored, not compressed: photos are compressed already, and deflating them would only cost CPU.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

from media.models import StoredMedia
from media.selectors import StoredFileMissing, media_file_open, opened_chunks
from photochanger.executors import run_storage_work

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveMember:
    name: str  # the path inside the archive
    media: StoredMedia
    modified_at: datetime  # shown by unzip tools; local time


class _Sink:
    """Where zipfile writes: bytes kept until the next chunk is handed out."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def write(self, data: bytes) -> int:
        self.pending += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.pending = bytes(self.pending), bytearray()
        return data


async def zip_chunks(members: Iterable[ArchiveMember]) -> AsyncIterator[bytes]:
    """The ZIP archive of ``members``, in chunks of about one file chunk each."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for member in members:
            try:
                opened = await run_storage_work(media_file_open, member.media)
            except StoredFileMissing:
                # The rest of the event is still worth having: the archive goes on without it.
                logger.warning("archive: the stored file %s is missing", member.media.storage_name)
                continue
            info = zipfile.ZipInfo(member.name, date_time=member.modified_at.timetuple()[:6])
            with archive.open(info, "w") as file:
                async for chunk in opened_chunks(opened):
                    file.write(chunk)
                    yield sink.take()
    yield sink.take()  # the last descriptor and the central directory, written on closing
