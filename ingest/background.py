"""Work done after the booth has its answer: the upload's digests.

SHA-256 of a 10 MB photo costs ~27 ms of CPU; the booth does not need it, so it runs after the
answer on a low-priority thread. A crash loses only a digest, never the guest's photo or the
job's final status. (Thumbnails are made when first shown, see media.services.)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import BinaryIO

from ingest.services import job_record_digests
from ingest.upload import BoothUpload, upload_digests
from photochanger.executors import run_background_work

logger = logging.getLogger(__name__)

_tasks: set[asyncio.Task] = set()


def upload_keep_open(*, upload: BoothUpload, upload_sha256: str) -> BinaryIO | None:
    """A handle on the upload for its digests, unless they are known already.

    Taken before the result is stored: the upload's temporary file is then moved into place
    (a passthrough) or deleted once the answer is sent, and an open handle keeps it readable.
    """
    if upload_sha256:
        return None
    return open(upload.photo.temporary_file_path(), "rb")  # closed by the after-answer task


def run_after_answer(
    *, job_id: uuid.UUID, upload: BoothUpload, upload_file: BinaryIO | None, upload_sha256: str
) -> None:
    task = asyncio.get_running_loop().create_task(
        _after_answer(
            job_id=job_id,
            upload_file=upload_file,
            booth_hash=upload.hash,
            upload_sha256=upload_sha256,
        )
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _after_answer(
    *,
    job_id: uuid.UUID,
    upload_file: BinaryIO | None,
    booth_hash: str,
    upload_sha256: str,
) -> None:
    try:
        if upload_file is None:
            # Strict mode checked the hash before answering: it matched.
            sha256, matches = upload_sha256, True
        else:
            with upload_file:
                digests = await run_background_work(
                    upload_digests, upload_file, booth_hash=booth_hash
                )
            sha256, matches = digests.sha256, digests.booth_hash_matches
        await run_background_work(
            job_record_digests, job_id=job_id, sha256=sha256, hash_matches=matches
        )
    except Exception:
        logger.exception("after-answer work failed for job %s", job_id)


async def after_answer_drain() -> None:
    """Wait for every pending after-answer task (server shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
