"""Load benchmark: 30 booths against one server, each photo held 5 to 15 s by the AI provider.

What is measured
    30 simulated booths each send a ~5 MB photo (a 24 MP JPEG) to a Gemini slot, wait for the
    answer, and send the next, for ``--minutes`` (default 5; ``--quick``: 1). Our server is
    started the README way (``manage.py serve`` on a fresh data folder, bench/ingest.py's
    ``ours_start``); slot-006 is pointed at a fake Gemini (tests/fakes/gemini.py, speaking
    ``generateContent``'s wire format) that runs in a child process of this script and holds
    each request for a random 5 to 15 s before answering a 1024 px JPEG; ``max_concurrent_jobs``
    is 30. We record:

    * every answer's status; targets: nothing but 200, and 429 only when there are more booths
      than ``max_concurrent_jobs`` (never with the defaults);
    * for each 200, the time beyond the provider's own: the booth's latency (first byte of the
      request sent to the last byte of the answer read) minus the delay the fake applied to that
      very request. Target: p95 under 250 ms. It is what the server adds to the provider: the
      5 MB upload, the checks, shrinking the photo for Gemini, the call's transfer
      both ways, storing the result, the answer;
    * the server's peak memory: ``VmRSS`` sampled every 20 ms and ``VmHWM`` over the run.
      Target: under 500 MB.

    To tell where the time beyond goes, the report adds the server's own split (from its job
    rows: ``duration_ms - provider_ms``, the time outside the provider call) and the cost of
    shrinking this photo for Gemini, timed alone; and a timeline per 30 s with the server's
    RSS and CPU and the CPU of every other process, so a slow stretch caused by a neighbour
    on the machine shows as such.

How a latency is matched with its provider delay
    The fake picks each delay when a request reaches it and writes it into the image it
    answers, as a JPEG comment (``fake-provider-delay=12.345678``). A Gemini slot answers the
    booth with the provider's image bytes unchanged, so each booth reads the delay of its own
    request from its own answer. Nothing is matched by order or by time, which would break as
    soon as 30 requests overlap; and the fake never fails, so there are no retries (one call,
    one delay, per photo).

``--local-effects MP``: image work in the server itself
    Instead of the Gemini run, every booth (``--booths``, 30) sends a photo of MP megapixels
    (24: 6000 x 4000, ~5 MB) to slot-003, the local provider's sepia, all booths at the same
    moment, and the next photo when the answer is in (``--rounds``, 2, photos each). The
    deadline is the longest the settings allow (120 s) so that every photo is processed. It
    reports the answers' statuses and latency, the effect's time in the server (the job rows'
    ``provider_ms``, waiting for a core included), and the server's RSS: idle, for one photo
    alone, at peak (sampled every 20 ms, and VmHWM), each second, and after the run (what the
    server keeps). Target: every answer 200 and peak RSS under 500 MB.

``--servers URL,URL``: several servers behind one address
    The Gemini run against servers already running on this machine instead of one it starts:
    booth i sends to server i mod N, as a balancer spreads booths. The servers share one
    PostgreSQL database (the same DATABASE_URL in this script's environment, where it sets
    slot-006 and its ingest password), Redis and, for media, a bucket or their own folders;
    each is started with ``GEMINI_BASE_URL=http://127.0.0.1:8089`` (``--provider-port``), where
    this script's fake Gemini listens. Memory and CPU are summed over the servers' processes,
    found by their ports. The job-row split (time outside the provider call) is not reported.
    README "Several machines" has the commands and what two processes give against one here.

Run it from the repository root (it takes ``--minutes`` plus up to 15 s to drain)::

    .venv/bin/python bench/load.py [--minutes N] [--quick] [--booths N] [--no-json]
    .venv/bin/python bench/load.py --local-effects 24 [--booths N] [--rounds N] [--no-json]
    .venv/bin/python bench/load.py --servers http://127.0.0.1:8001,http://127.0.0.1:8002

Exit status: 0 when every target passes, 1 if not, 2 when the benchmark could not run. The
numbers are also written to bench/results/load-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: bench/ is on the path, the repository not

from bench.ingest import (  # noqa: E402  (after the path is set)
    BOUNDARY,
    FILENAME,
    HOST,
    PASSWORD,
    PYTHON,
    BenchError,
    Connection,
    FreshPhotos,
    Outcome,
    Server,
    UsageWatch,
    cpu_ticks,
    ours_start,
    photo_make,
)

RESULTS_DIR = REPO / "bench" / "results"
SLOT_ID = "slot-006"
SLOT_PATH = f"/api/ingest/{SLOT_ID}"
BOOTHS = 30
MAX_CONCURRENT_JOBS = 30
PROVIDER_SECONDS = (5.0, 15.0)
# 6000 x 4000 (24 MP) at quality 39 gives ~5.1 MB with bench/ingest.py's noisy gradient.
PHOTO_SIZE = (6000, 4000)
PHOTO_QUALITY = 39
ANSWER_SIZE = (1024, 1024)
RESPONSE_BUFFER_BYTES = 8 * 1024 * 1024
# A booth refused with 429 prints the original; the next guest comes a little later.
PAUSE_AFTER_REFUSAL_SECONDS = 1.0

BEYOND_P95_TARGET_MS = 250.0  # issue 10: on two cores
RSS_TARGET_MB = 500.0

DELAY_MARK = re.compile(rb"fake-provider-delay=([0-9.]+)")


# --- the fake provider, in a child process ---------------------------------------------------


def _answer_jpeg() -> bytes:
    """What the fake 'generates': a noisy 1024 px JPEG, about the size Gemini answers."""
    from PIL import Image

    gradient = Image.linear_gradient("L").resize(ANSWER_SIZE).convert("RGB")
    noise = Image.effect_noise(ANSWER_SIZE, 60).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(gradient, noise, 0.5).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """``jpeg`` with a COM segment right after SOI: the pixels are untouched, no re-encoding."""
    segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return jpeg[:2] + segment + jpeg[2:]


def _gemini_answer(image: bytes) -> dict:
    data = base64.b64encode(image).decode()
    part = {"inlineData": {"mimeType": "image/jpeg", "data": data}}
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
        ],
        "modelVersion": "fake-gemini-bench",
    }


def fake_provider_main(
    pipe: Pipe, seed: int, seconds_range: tuple[float, float], port: int = 0
) -> None:
    """Run the fake Gemini until told to stop; send its base URL, then the calls it took."""
    from tests.fakes.gemini import FakeGemini, answer_json, delay

    base_image = _answer_jpeg()
    rng = random.Random(seed)
    lock = threading.Lock()

    def behave(handler: object) -> None:
        with lock:  # handlers run on threads of their own
            seconds = rng.uniform(*seconds_range)
        image = _with_comment(base_image, b"fake-provider-delay=%.6f" % seconds)
        delay(seconds, then=answer_json(200, _gemini_answer(image)))(handler)

    fake = FakeGemini(port=port)
    fake.start()
    # One behaviour per call; far more than a run can make (an empty queue would answer at once).
    fake.script(*([behave] * 100_000))
    pipe.send(fake.base_url)
    calls = 0
    while not pipe.poll(0.5):
        # The fake keeps every request body it got (~1 MB each): count them and let them go.
        recorded = len(fake.requests)
        del fake.requests[:recorded]
        calls += recorded
    pipe.recv()
    calls += len(fake.requests)
    fake.stop()
    pipe.send(calls)


class FakeProvider:
    def __init__(self, seed: int, seconds_range: tuple[float, float], port: int = 0) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_pipe = context.Pipe()
        self.process = context.Process(
            target=fake_provider_main, args=(child_pipe, seed, seconds_range, port), daemon=True
        )
        self.process.start()
        if not self._pipe.poll(60):
            raise BenchError("the fake provider did not start")
        self.base_url: str = self._pipe.recv()

    def stop(self) -> int:
        """Stop the fake; return how many calls it took."""
        self._pipe.send("stop")
        calls = self._pipe.recv() if self._pipe.poll(15) else -1
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
        return calls


# --- the server ------------------------------------------------------------------------------


def slot_configure(server_data_dir: Path | None, *, password: bool = False) -> None:
    """Make slot-006 a Gemini slot (the server reaches the fake through GEMINI_BASE_URL),
    through the running server's own database, or with ``server_data_dir`` None, the database
    DATABASE_URL names (``--servers``), there with the bench's ingest password too."""
    script = (
        "from django.contrib.auth.hashers import make_password\n"
        "from slots.models import GlobalSettings, Slot\n"
        "GlobalSettings.objects.update(gemini_api_key='bench-gemini-key', "
        f"max_concurrent_jobs={MAX_CONCURRENT_JOBS})\n"
        f"Slot.objects.filter(pk={SLOT_ID!r}).update(is_active=True, provider='gemini', "
        "operation='generate', "
        "settings={'prompt': 'make it a painting'})\n"
    )
    if password:
        script += (
            f"GlobalSettings.objects.update(ingest_password_hash=make_password({PASSWORD!r}))\n"
        )
    server_shell(server_data_dir, script, what=f"configure {SLOT_ID}")


def server_shell(server_data_dir: Path | None, script: str, *, what: str) -> str:
    """Run ``script`` in ``manage.py shell`` on the running server's data folder (None: with
    this script's environment); what it printed."""
    env = dict(os.environ)
    if server_data_dir is not None:
        for key in ("DATABASE_URL", "MEDIA_ROOT", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
            env.pop(key, None)
        env["DATA_DIR"] = str(server_data_dir)
    done = subprocess.run(
        [str(PYTHON), "manage.py", "shell", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchError(f"could not {what}:\n{done.stderr[-2000:]}")
    return done.stdout


def request_bytes(*, port: int, photo: bytes, slot_path: str = SLOT_PATH) -> bytes:
    body = (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="password"\r\n\r\n'
            f"{PASSWORD}\r\n"
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="fileToUpload"; filename="{FILENAME}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST {slot_path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "User-Agent: photochanger-load-bench\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def warm_up(port: int) -> None:
    """One small photo through the passthrough slot: the first request pays for what later
    ones find ready (the ingest password's slow hash, database connections, lazy imports)."""
    from PIL import Image

    buffer = io.BytesIO()
    # A photo of its own per server: the same photo twice would be a re-send (ingest.repeats).
    Image.new("RGB", (64, 48), (90, 120, port % 256)).save(buffer, "JPEG")
    payload = request_bytes(port=port, photo=buffer.getvalue()).replace(
        SLOT_PATH.encode(), b"/api/ingest/slot-001", 1
    )

    async def one() -> Outcome:
        connection = Connection(port, buffer_bytes=RESPONSE_BUFFER_BYTES)
        try:
            return await connection.request(payload)
        finally:
            connection.close()

    outcome = asyncio.run(one())
    if outcome.status != 200:
        raise BenchError(
            f"the warm-up photo was answered {outcome.status} {outcome.error} "
            f"{outcome.body[:300]!r}"
        )


def timed_alone_ms(work: Callable[[Path], object], photo: bytes, *, repeat: int = 5) -> float:
    """The median time of ``work`` on the photo saved to a file, in this process, alone."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(photo)
        file.flush()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            work(Path(file.name))
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def shrink_ms(photo: bytes) -> float:
    """What the Gemini driver does to each photo before the call (providers/photos.py), timed
    alone: part of the time beyond the provider's that no amount of server tuning removes."""
    from providers.photos import photo_for_provider

    return timed_alone_ms(lambda path: photo_for_provider(path, 1), photo)


def job_times(data_dir: Path) -> list[tuple[int, int]]:
    """(duration_ms, provider_ms) of the slot's done jobs, from the server's own database."""
    database = sqlite3.connect(f"file:{data_dir / 'photochanger.sqlite3'}?mode=ro", uri=True)
    try:
        return database.execute(
            "SELECT duration_ms, provider_ms FROM ingest_job "
            "WHERE slot_id = ? AND status = 'done' AND provider_ms IS NOT NULL",
            (SLOT_ID,),
        ).fetchall()
    finally:
        database.close()


class Monitor(threading.Thread):
    """Once a second: the server's RSS, and CPU time of the server, of the fake and of the whole
    machine, so the timeline shows whether a slow stretch was ours or a neighbour's."""

    def __init__(self, server_pids: list[int], fake_pid: int) -> None:
        super().__init__(daemon=True)
        self.server_pids, self.fake_pid = server_pids, fake_pid
        self.samples: list[tuple[float, int, int, int, int]] = []
        self._stop_event = threading.Event()
        self.started = time.monotonic()

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            self.samples.append(
                (
                    time.monotonic() - self.started,
                    sum(_rss_kb(pid) for pid in self.server_pids),
                    cpu_ticks(self.server_pids),
                    cpu_ticks([self.fake_pid, os.getpid()]),
                    _machine_ticks(),
                )
            )

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def window(self, start: float, end: float) -> tuple[float, float, float]:
        """Peak RSS (MB), server CPU and neighbours' CPU (cores) between start and end."""
        inside = [sample for sample in self.samples if start <= sample[0] < end]
        if len(inside) < 2:
            return float("nan"), float("nan"), float("nan")
        first, last = inside[0], inside[-1]
        per_second = os.sysconf("SC_CLK_TCK") * (last[0] - first[0])
        server = (last[2] - first[2]) / per_second
        ours = (last[3] - first[3]) / per_second
        machine = (last[4] - first[4]) / per_second
        return max(sample[1] for sample in inside) / 1024, server, max(0.0, machine - server - ours)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _machine_ticks() -> int:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4]  # everything but idle and iowait


# --- the booths ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    booth: int
    sent_at_s: float  # since the booths started
    status: int | None  # None: no HTTP answer
    latency_ms: float
    provider_ms: float | None  # the delay the fake applied, read from the answer
    error: str = ""

    @property
    def beyond_ms(self) -> float | None:
        return None if self.provider_ms is None else self.latency_ms - self.provider_ms


def _provider_delay_ms(outcome: Outcome) -> float | None:
    match = DELAY_MARK.search(outcome.body[:512])
    return float(match.group(1)) * 1000 if match else None


async def booth_run(
    index: int,
    port: int,
    payload: bytes,
    stop_at: float,
    records: list[Record],
    *,
    started: float,
    stagger_seconds: float,
) -> None:
    """One booth: a photo, wait for the answer, the next photo, until ``stop_at``."""
    connection = Connection(port, buffer_bytes=RESPONSE_BUFFER_BYTES)
    await asyncio.sleep(random.uniform(0, stagger_seconds))
    photos = FreshPhotos(payload)
    try:
        while (sent_at := time.monotonic()) < stop_at:
            outcome = await connection.request(photos.next(), keep_body=True)
            provider_ms = _provider_delay_ms(outcome) if outcome.status == 200 else None
            error = outcome.error
            if outcome.status == 200 and provider_ms is None:
                error = "200 without the fake's delay mark"
            elif outcome.status not in (200, None):
                error = outcome.body[:200].decode("utf-8", "replace")
            records.append(
                Record(
                    booth=index,
                    sent_at_s=round(sent_at - started, 3),
                    status=outcome.status,
                    latency_ms=outcome.latency * 1000,
                    provider_ms=provider_ms,
                    error=error,
                )
            )
            if outcome.status != 200:
                await asyncio.sleep(PAUSE_AFTER_REFUSAL_SECONDS)
    finally:
        connection.close()


async def booths_run(
    *,
    booths: int,
    targets: list[tuple[int, bytes]],
    started: float,
    seconds: float,
    stagger_seconds: float,
) -> list[Record]:
    """``targets``: (port, request) of each server; booths are spread over them in turn, as a
    balancer spreads its clients."""
    records: list[Record] = []
    async with asyncio.TaskGroup() as group:
        for index in range(booths):
            port, payload = targets[index % len(targets)]
            group.create_task(
                booth_run(
                    index,
                    port,
                    payload,
                    started + seconds,
                    records,
                    started=started,
                    stagger_seconds=stagger_seconds,
                )
            )
    return records


# --- the report ------------------------------------------------------------------------------


@dataclass
class Report:
    minutes: float
    booths: int
    photo_bytes: int
    seconds: float
    requests: int
    by_status: dict[str, int]
    beyond_p50_ms: float
    beyond_p95_ms: float
    beyond_max_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    provider_p50_ms: float
    peak_rss_mb: float
    hwm_mb: float | None
    server_cpu: float
    client_cpu: float
    other_cpu: float
    provider_calls: int
    outside_provider_p50_ms: float
    outside_provider_p95_ms: float
    shrink_ms: float
    failure_samples: list[str] = field(default_factory=list)
    targets: list[dict[str, object]] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)


def _percentile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def report_make(
    *,
    minutes: float,
    booths: int,
    photo_bytes: int,
    phase: Phase,
    provider_calls: int,
    jobs: list[tuple[int, int]],
    shrink: float,
) -> Report:
    records, usage, monitor, seconds = phase.records, phase.usage, phase.monitor, phase.seconds
    statuses = Counter("no answer" if r.status is None else str(r.status) for r in records)
    served = [r for r in records if r.status == 200 and r.provider_ms is not None]
    beyond = [r.beyond_ms for r in served]
    latency = [r.latency_ms for r in served]
    outside = [float(duration - provider) for duration, provider in jobs]
    samples = [f"booth {r.booth}: {r.status} {r.error}" for r in records if r.error][:10]
    report = Report(
        minutes=minutes,
        booths=booths,
        photo_bytes=photo_bytes,
        seconds=round(seconds, 1),
        requests=len(records),
        by_status=dict(sorted(statuses.items())),
        beyond_p50_ms=statistics.median(beyond) if beyond else float("nan"),
        beyond_p95_ms=_percentile(beyond, 95),
        beyond_max_ms=max(beyond, default=float("nan")),
        latency_p50_ms=statistics.median(latency) if latency else float("nan"),
        latency_p95_ms=_percentile(latency, 95),
        provider_p50_ms=statistics.median(r.provider_ms for r in served) if served else 0.0,
        peak_rss_mb=usage.peak_rss_mb,
        hwm_mb=usage.hwm_mb,
        server_cpu=usage.server_cpu,
        client_cpu=usage.client_cpu,
        other_cpu=usage.other_cpu,
        provider_calls=provider_calls,
        outside_provider_p50_ms=statistics.median(outside) if outside else float("nan"),
        outside_provider_p95_ms=_percentile(outside, 95),
        shrink_ms=shrink,
        failure_samples=samples,
        records=sorted(records, key=lambda record: record.sent_at_s),
        timeline=timeline(records, monitor),
    )
    report.targets = targets(report, records)
    return report


def targets(report: Report, records: list[Record]) -> list[dict[str, object]]:
    refusals_expected = report.booths > MAX_CONCURRENT_JOBS
    unexpected = sum(
        1
        for r in records
        if not (r.status == 200 and not r.error) and not (r.status == 429 and refusals_expected)
    )
    peak = max(report.peak_rss_mb, report.hwm_mb or 0.0)
    return [
        {
            "target": "answers other than 200 (and 429 beyond capacity): 0",
            "value": unexpected,
            "passed": unexpected == 0 and report.requests > 0,
        },
        {
            "target": f"time beyond the provider's, p95 < {BEYOND_P95_TARGET_MS:.0f} ms",
            "value": round(report.beyond_p95_ms, 1),
            "passed": report.beyond_p95_ms < BEYOND_P95_TARGET_MS,
        },
        {
            "target": f"server peak RSS < {RSS_TARGET_MB:.0f} MB",
            "value": round(peak, 1),
            "passed": peak < RSS_TARGET_MB,
        },
    ]


def report_print(report: Report) -> None:
    print(
        f"\n{report.booths} booths, {report.photo_bytes / 1e6:.1f} MB photo, "
        f"{report.seconds:.0f} s (sending for {report.minutes:g} min, then draining)"
    )
    print(f"requests served: {report.requests} (provider calls: {report.provider_calls})")
    print("answers by status: " + ", ".join(f"{k}: {v}" for k, v in report.by_status.items()))
    print(
        f"time beyond the provider's: p50 {report.beyond_p50_ms:.1f} ms, "
        f"p95 {report.beyond_p95_ms:.1f} ms, max {report.beyond_max_ms:.1f} ms"
    )
    if report.outside_provider_p50_ms == report.outside_provider_p50_ms:  # not NaN
        print(
            "  of which, in the server outside the provider call (job rows, duration_ms - "
            f"provider_ms): p50 {report.outside_provider_p50_ms:.1f} ms, "
            f"p95 {report.outside_provider_p95_ms:.1f} ms"
        )
    print(
        "  and inside it, shrinking the photo for Gemini (timed alone in this script): "
        f"{report.shrink_ms:.1f} ms"
    )
    print(
        f"booth latency: p50 {report.latency_p50_ms / 1000:.2f} s, "
        f"p95 {report.latency_p95_ms / 1000:.2f} s "
        f"(provider delay p50 {report.provider_p50_ms / 1000:.2f} s)"
    )
    print(
        "by when the photo was sent: time beyond the provider's; the server's peak RSS and "
        "CPU cores; CPU cores of other processes (neighbours)"
    )
    for line in report.timeline:
        print(f"  {line}")
    hwm = "-" if report.hwm_mb is None else f"{report.hwm_mb:.1f}"
    print(f"server peak RSS: {report.peak_rss_mb:.1f} MB sampled, VmHWM {hwm} MB")
    print(
        f"CPU cores used on average: server {report.server_cpu:.2f}, this script "
        f"{report.client_cpu:.2f}, everything else (the fake included) {report.other_cpu:.2f} "
        f"({os.cpu_count()} CPUs)"
    )
    if report.failure_samples:
        print("answers that were not a marked 200:")
        for sample in report.failure_samples:
            print(f"  {sample}")
    print("\nTargets:")
    for check in report.targets:
        print(f"  {'PASS' if check['passed'] else 'FAIL'}  {check['target']}: {check['value']}")


def timeline(records: list[Record], monitor: Monitor, window_seconds: int = 30) -> list[str]:
    windows: dict[int, list[float]] = {}
    for record in records:
        if record.beyond_ms is not None:
            windows.setdefault(int(record.sent_at_s // window_seconds), []).append(record.beyond_ms)
    lines = []
    for index, values in sorted(windows.items()):
        start, end = index * window_seconds, (index + 1) * window_seconds
        rss, server_cpu, neighbours_cpu = monitor.window(start, end)
        lines.append(
            f"{start:>4}-{end:<4} s: {len(values):>4} photos, p50 {statistics.median(values):7.1f} "
            f"ms, p95 {_percentile(values, 95):7.1f} ms; RSS {rss:5.0f} MB, "
            f"server {server_cpu:.2f}, neighbours {neighbours_cpu:.2f}"
        )
    return lines


def report_write(report: Report) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"load-{datetime.now():%Y%m%d-%H%M%S}.json"
    document = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        **asdict(report),
    }
    path.write_text(json.dumps(document, indent=2))
    return path


# --- --local-effects: image work in the server itself ----------------------------------------
#
# The other half of issue 11's memory target: no provider to wait for, every photo decoded,
# turned sepia and encoded again by the local provider on the server's own cores. All booths
# send at the same moment (no stagger), the worst case for memory.

EFFECTS_SLOT_ID = "slot-003"  # sepia on the local provider, on a fresh install
EFFECTS_ROUNDS = 2
# A 24 MP sepia answer at the local provider's quality 90 is ~10 MB for this noisy photo.
EFFECTS_RESPONSE_BUFFER_BYTES = 32 * 1024 * 1024
# The longest deadline the settings allow: every photo is then processed, so the memory
# measured is that of all of them, not of those a shorter deadline left running.
EFFECTS_DEADLINE_SECONDS = 120


def effects_photo_size(megapixels: float) -> tuple[int, int]:
    """A 3:2 landscape of about ``megapixels``: 24 gives 6000 x 4000."""
    height = round((megapixels * 1e6 / 1.5) ** 0.5)
    return round(height * 1.5), height


def effects_slot_configure(server_data_dir: Path, booths: int) -> None:
    script = (
        "from slots.models import GlobalSettings, Slot\n"
        f"GlobalSettings.objects.update(max_concurrent_jobs={max(booths, MAX_CONCURRENT_JOBS)}, "
        f"sync_response_seconds={EFFECTS_DEADLINE_SECONDS})\n"
        f"Slot.objects.filter(pk={EFFECTS_SLOT_ID!r}).update(is_active=True, provider='local', "
        "operation='sepia', settings={}, max_concurrent_jobs=None)\n"
    )
    server_shell(server_data_dir, script, what=f"configure {EFFECTS_SLOT_ID}")


@dataclass(frozen=True)
class EffectsRecord:
    booth: int
    status: int | None
    latency_ms: float
    error: str = ""


async def effects_booth_run(
    index: int, port: int, payload: bytes, rounds: int, records: list[EffectsRecord]
) -> None:
    """One booth: ``rounds`` photos, each sent when the previous one is answered."""
    connection = Connection(port, buffer_bytes=EFFECTS_RESPONSE_BUFFER_BYTES)
    photos = FreshPhotos(payload)
    try:
        for _ in range(rounds):
            outcome = await connection.request(photos.next())
            error = outcome.error
            if outcome.status not in (200, None):
                error = outcome.body[:200].decode("utf-8", "replace")
            records.append(EffectsRecord(index, outcome.status, outcome.latency * 1000, error))
    finally:
        connection.close()


async def effects_booths_run(
    *, booths: int, port: int, payload: bytes, rounds: int
) -> list[EffectsRecord]:
    records: list[EffectsRecord] = []
    async with asyncio.TaskGroup() as group:
        for index in range(booths):
            group.create_task(effects_booth_run(index, port, payload, rounds, records))
    return records


def effects_job_times(data_dir: Path) -> list[tuple[int, int]]:
    """(duration_ms, provider_ms) of the effect slot's done jobs."""
    database = sqlite3.connect(f"file:{data_dir / 'photochanger.sqlite3'}?mode=ro", uri=True)
    try:
        return database.execute(
            "SELECT duration_ms, provider_ms FROM ingest_job "
            "WHERE slot_id = ? AND status = 'done' AND provider_ms IS NOT NULL",
            (EFFECTS_SLOT_ID,),
        ).fetchall()
    finally:
        database.close()


@dataclass
class EffectsReport:
    megapixels: float
    photo_size: tuple[int, int]
    photo_bytes: int
    booths: int
    rounds: int
    seconds: float
    requests: int
    by_status: dict[str, int]
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    effect_p50_ms: float  # provider_ms of the job rows: decode, sepia, encode
    effect_p95_ms: float
    photos_per_second: float
    rss_idle_mb: float  # after the warm-up, before the booths
    single_peak_rss_mb: float  # one photo alone
    peak_rss_mb: float  # the booths' run, sampled every 20 ms
    hwm_mb: float | None
    rss_after_mb: float  # once every answer is in: what the server keeps
    server_cpu: float
    other_cpu: float
    rss_each_second_mb: list[int] = field(default_factory=list)  # when the peak came
    failure_samples: list[str] = field(default_factory=list)
    targets: list[dict[str, object]] = field(default_factory=list)


def effects_benchmark(work: Path, *, megapixels: float, booths: int, rounds: int) -> EffectsReport:
    size = effects_photo_size(megapixels)
    photo = photo_make(work / "photo-effects.jpg", size=size, quality=PHOTO_QUALITY)
    print(f"test photo: {size[0]}x{size[1]}, {len(photo):,} bytes")
    server = ours_start(work)
    try:
        print(f"ours: manage.py serve, pid {server.pid}, port {server.port}")
        effects_slot_configure(work / "data", booths)
        payload = request_bytes(
            port=server.port, photo=photo, slot_path=f"/api/ingest/{EFFECTS_SLOT_ID}"
        )
        warm_up(server.port)
        rss_idle = _rss_kb(server.pid) / 1024
        with UsageWatch(server.pid, [os.getpid()]) as single:
            alone = asyncio.run(
                effects_booths_run(booths=1, port=server.port, payload=payload, rounds=1)
            )
        if alone[0].status != 200:
            raise BenchError(f"a single photo was answered {alone[0].status} {alone[0].error}")
        print(f"{booths} booths sending {rounds} photo(s) each, all at once …")
        started = time.monotonic()
        monitor = Monitor(server.pid, os.getpid())
        monitor.start()
        with UsageWatch(server.pid, [os.getpid()]) as watch:
            records = asyncio.run(
                effects_booths_run(booths=booths, port=server.port, payload=payload, rounds=rounds)
            )
        seconds = time.monotonic() - started
        monitor.stop()
        time.sleep(1.0)  # the thumbnails and digests no booth waits for
        rss_after = _rss_kb(server.pid) / 1024
        server.check_alive()
        if tail := server.stderr_tail(20):
            print(f"\nour server wrote to stderr (last lines):\n{tail}")
    finally:
        server.stop()
    return effects_report_make(
        megapixels=megapixels,
        size=size,
        photo_bytes=len(photo),
        booths=booths,
        rounds=rounds,
        seconds=seconds,
        records=records,
        jobs=effects_job_times(work / "data")[1:],  # the single photo's job is not the run's
        rss_idle=rss_idle,
        single=single.usage,
        usage=watch.usage,
        rss_after=rss_after,
        rss_each_second=[round(sample[1] / 1024) for sample in monitor.samples],
    )


def effects_report_make(
    *,
    megapixels: float,
    size: tuple[int, int],
    photo_bytes: int,
    booths: int,
    rounds: int,
    seconds: float,
    records: list[EffectsRecord],
    jobs: list[tuple[int, int]],
    rss_idle: float,
    single: object,
    usage: object,
    rss_after: float,
    rss_each_second: list[int],
) -> EffectsReport:
    statuses = Counter("no answer" if r.status is None else str(r.status) for r in records)
    latency = [r.latency_ms for r in records if r.status == 200]
    effect = [float(provider) for _, provider in jobs]
    report = EffectsReport(
        megapixels=megapixels,
        photo_size=size,
        photo_bytes=photo_bytes,
        booths=booths,
        rounds=rounds,
        seconds=round(seconds, 1),
        requests=len(records),
        by_status=dict(sorted(statuses.items())),
        latency_p50_ms=statistics.median(latency) if latency else float("nan"),
        latency_p95_ms=_percentile(latency, 95),
        latency_max_ms=max(latency, default=float("nan")),
        effect_p50_ms=statistics.median(effect) if effect else float("nan"),
        effect_p95_ms=_percentile(effect, 95),
        photos_per_second=len(latency) / seconds if seconds else 0.0,
        rss_idle_mb=rss_idle,
        single_peak_rss_mb=max(single.peak_rss_mb, single.hwm_mb or 0.0),
        peak_rss_mb=usage.peak_rss_mb,
        hwm_mb=usage.hwm_mb,
        rss_after_mb=rss_after,
        server_cpu=usage.server_cpu,
        other_cpu=usage.other_cpu,
        rss_each_second_mb=rss_each_second,
        failure_samples=[f"booth {r.booth}: {r.status} {r.error}" for r in records if r.error][:10],
    )
    peak = max(report.peak_rss_mb, report.hwm_mb or 0.0)
    unexpected = sum(1 for r in records if r.status != 200)
    report.targets = [
        {
            "target": "answers other than 200: 0",
            "value": unexpected,
            "passed": unexpected == 0 and report.requests > 0,
        },
        {
            "target": f"server peak RSS < {RSS_TARGET_MB:.0f} MB",
            "value": round(peak, 1),
            "passed": peak < RSS_TARGET_MB,
        },
    ]
    return report


def effects_report_print(report: EffectsReport) -> None:
    width, height = report.photo_size
    print(
        f"\n{report.booths} booths x {report.rounds} photo(s), {width}x{height} "
        f"({report.megapixels:g} MP, {report.photo_bytes / 1e6:.1f} MB) to the local provider's "
        f"sepia, {report.seconds:.1f} s"
    )
    print("answers by status: " + ", ".join(f"{k}: {v}" for k, v in report.by_status.items()))
    print(
        f"booth latency: p50 {report.latency_p50_ms / 1000:.2f} s, "
        f"p95 {report.latency_p95_ms / 1000:.2f} s, max {report.latency_max_ms / 1000:.2f} s; "
        f"{report.photos_per_second:.2f} photos/s"
    )
    print(
        f"the effect in the server (job rows' provider_ms, queueing for a core included): "
        f"p50 {report.effect_p50_ms:.0f} ms, p95 {report.effect_p95_ms:.0f} ms"
    )
    hwm = "-" if report.hwm_mb is None else f"{report.hwm_mb:.1f}"
    print(
        f"server RSS: idle {report.rss_idle_mb:.1f} MB; one photo alone, peak "
        f"{report.single_peak_rss_mb:.1f} MB; the booths' run, peak {report.peak_rss_mb:.1f} MB "
        f"sampled, VmHWM {hwm} MB; after it {report.rss_after_mb:.1f} MB"
    )
    print(f"  each second of the run: {' '.join(map(str, report.rss_each_second_mb))} MB")
    print(
        f"CPU cores used on average: server {report.server_cpu:.2f}, everything else "
        f"{report.other_cpu:.2f} ({os.cpu_count()} CPUs)"
    )
    if report.failure_samples:
        print("answers that were not 200:")
        for sample in report.failure_samples:
            print(f"  {sample}")
    print("\nTargets:")
    for check in report.targets:
        print(f"  {'PASS' if check['passed'] else 'FAIL'}  {check['target']}: {check['value']}")


def effects_report_write(report: EffectsReport) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"load-effects-{datetime.now():%Y%m%d-%H%M%S}.json"
    document = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        **asdict(report),
    }
    path.write_text(json.dumps(document, indent=2))
    return path


# --- main ------------------------------------------------------------------------------------


@dataclass
class Phase:
    """The measured phase of a Gemini run: every booth's records, and what the servers used."""

    records: list[Record]
    usage: object
    monitor: Monitor
    seconds: float


def booths_measured(
    server_pids: list[int],
    provider: FakeProvider,
    targets: list[tuple[int, bytes]],
    *,
    booths: int,
    minutes: float,
    provider_seconds: tuple[float, float],
) -> Phase:
    """The booths sending to ``targets`` for ``minutes``, the servers watched meanwhile."""
    started = time.monotonic()
    monitor = Monitor(server_pids, provider.process.pid)
    monitor.start()
    with UsageWatch(server_pids, [os.getpid(), provider.process.pid]) as watch:
        records = asyncio.run(
            booths_run(
                booths=booths,
                targets=targets,
                started=monitor.started,
                seconds=minutes * 60,
                # Booths at an event do not start in step: spread their first photos over a
                # provider delay.
                stagger_seconds=sum(provider_seconds) / 2,
            )
        )
    monitor.stop()
    return Phase(records, watch.usage, monitor, time.monotonic() - started)


def benchmark(
    work: Path,
    *,
    minutes: float,
    booths: int,
    provider_seconds: tuple[float, float] = PROVIDER_SECONDS,
) -> Report:
    photo = photo_make(work / "photo-5mb.jpg", size=PHOTO_SIZE, quality=PHOTO_QUALITY)
    print(f"test photo: {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, {len(photo):,} bytes")
    shrink = shrink_ms(photo)
    provider = FakeProvider(seed=4711, seconds_range=provider_seconds)
    server: Server | None = None
    calls = -1
    try:
        print(f"fake Gemini: pid {provider.process.pid}, {provider.base_url}")
        # Only the server's environment says where provider calls go; the child inherits ours.
        os.environ["GEMINI_BASE_URL"] = provider.base_url
        server = ours_start(work)
        print(f"ours: manage.py serve, pid {server.pid}, port {server.port}")
        slot_configure(work / "data")
        payload = request_bytes(port=server.port, photo=photo)
        warm_up(server.port)
        print(f"{booths} booths sending for {minutes:g} min …")
        phase = booths_measured(
            [server.pid],
            provider,
            [(server.port, payload)],
            booths=booths,
            minutes=minutes,
            provider_seconds=provider_seconds,
        )
        server.check_alive()
        if tail := server.stderr_tail(20):
            print(f"\nour server wrote to stderr (last lines):\n{tail}")
    finally:
        if server is not None:
            server.stop()
        calls = provider.stop()
    return report_make(
        minutes=minutes,
        booths=booths,
        photo_bytes=len(photo),
        phase=phase,
        provider_calls=calls,
        jobs=job_times(work / "data"),
        shrink=shrink,
    )


def servers_benchmark(
    work: Path,
    ports: list[int],
    *,
    minutes: float,
    booths: int,
    provider_port: int,
    provider_seconds: tuple[float, float] = PROVIDER_SECONDS,
) -> Report:
    """The Gemini run against servers already running on this machine (``--servers``), booths
    spread over them as behind a balancer. They share one database (DATABASE_URL here too) and
    reach the fake through GEMINI_BASE_URL=http://127.0.0.1:<provider_port>."""
    photo = photo_make(work / "photo-5mb.jpg", size=PHOTO_SIZE, quality=PHOTO_QUALITY)
    print(f"test photo: {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, {len(photo):,} bytes")
    pids = [pid_listening_on(port) for port in ports]
    if None in pids:
        raise BenchError(f"no process of ours listens on each of the ports {ports}")
    provider = FakeProvider(seed=4711, seconds_range=provider_seconds, port=provider_port)
    calls = -1
    try:
        print(f"fake Gemini: pid {provider.process.pid}, {provider.base_url}")
        slot_configure(None, password=True)
        targets = [(port, request_bytes(port=port, photo=photo)) for port in ports]
        for port in ports:
            warm_up(port)
        print(f"{booths} booths sending for {minutes:g} min to {len(ports)} servers …")
        phase = booths_measured(
            pids,
            provider,
            targets,
            booths=booths,
            minutes=minutes,
            provider_seconds=provider_seconds,
        )
    finally:
        calls = provider.stop()
    return report_make(
        minutes=minutes,
        booths=booths,
        photo_bytes=len(photo),
        phase=phase,
        provider_calls=calls,
        jobs=[],
        shrink=shrink_ms(photo),
    )


def pid_listening_on(port: int) -> int | None:
    """The process listening on loopback ``port`` of this machine (from /proc), if any."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])  # state 0A: LISTEN
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in {f"socket:[{inode}]" for inode in inodes}:
                    return int(entry.name)
    return None


def arguments_parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long booths send")
    parser.add_argument("--quick", action="store_true", help="a one-minute run")
    parser.add_argument("--booths", type=int, default=BOOTHS, help="simulated booths (30)")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--local-effects",
        type=float,
        metavar="MP",
        help="instead of the Gemini run: every booth sends photos of MP megapixels (e.g. 24) "
        "to the local provider's sepia slot, all at once; reports the server's memory",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=EFFECTS_ROUNDS,
        help="with --local-effects: photos each booth sends, one after the other "
        f"({EFFECTS_ROUNDS})",
    )
    parser.add_argument(
        "--provider-seconds",
        type=float,
        nargs=2,
        default=PROVIDER_SECONDS,
        metavar=("MIN", "MAX"),
        help="the fake's delay range (5 15); e.g. --booths 1 --provider-seconds 0.3 0.3 "
        "measures one booth's time beyond the provider with nothing else running",
    )
    parser.add_argument(
        "--servers",
        metavar="URL,URL",
        help="instead of starting a server: send to these, already running on this machine "
        "(http://127.0.0.1:PORT each), booths spread over them; see 'Several servers' above",
    )
    parser.add_argument(
        "--provider-port",
        type=int,
        default=8089,
        help="with --servers: where the fake Gemini listens (8089)",
    )
    return parser.parse_args()


def main() -> int:
    arguments = arguments_parse()
    minutes = 1.0 if arguments.quick else arguments.minutes
    work = Path(tempfile.mkdtemp(prefix="photochanger-load-"))
    if arguments.servers:
        addresses = [urlsplit(url.strip()) for url in arguments.servers.split(",")]
        if any(address.hostname not in {HOST, "localhost"} for address in addresses):
            print("--servers: servers on this machine only (http://127.0.0.1:PORT)")
            return 2
        return run_and_report(
            lambda: servers_benchmark(
                work,
                [address.port for address in addresses],
                minutes=minutes,
                booths=arguments.booths,
                provider_port=arguments.provider_port,
                provider_seconds=tuple(arguments.provider_seconds),
            ),
            work=work,
            show=report_print,
            write=None if arguments.no_json else report_write,
        )
    if arguments.local_effects:
        return run_and_report(
            lambda: effects_benchmark(
                work,
                megapixels=arguments.local_effects,
                booths=arguments.booths,
                rounds=arguments.rounds,
            ),
            work=work,
            show=effects_report_print,
            write=None if arguments.no_json else effects_report_write,
        )
    return run_and_report(
        lambda: benchmark(
            work,
            minutes=minutes,
            booths=arguments.booths,
            provider_seconds=tuple(arguments.provider_seconds),
        ),
        work=work,
        show=report_print,
        write=None if arguments.no_json else report_write,
    )


def run_and_report(
    run: Callable[[], Report | EffectsReport],
    *,
    work: Path,
    show: Callable,
    write: Callable | None,
) -> int:
    """Run one benchmark, print its report (and write it); the exit status of its targets."""
    try:
        report = run()
    except BenchError as error:
        print(f"\nABORTED: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    show(report)
    if write is not None:
        print(f"\nwritten to {write(report).relative_to(REPO)}")
    return 0 if all(check["passed"] for check in report.targets) else 1


if __name__ == "__main__":
    sys.exit(main())
