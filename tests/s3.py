"""A local S3-compatible server (moto's, in a subprocess) and a fresh bucket per test.

The storage tests talk to it over loopback with the real S3 wire protocol, through the same
settings a deployment uses (S3_BUCKET, S3_ENDPOINT_URL, ...: photochanger.settings).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
from django.test import override_settings

from photochanger.settings import media_storage
from tests.fakes.server import free_port

REGION = "us-east-1"
ACCESS_KEY_ID = "photochanger-test-key-id"
SECRET_ACCESS_KEY = "photochanger-test-secret-access-key"


@dataclass
class S3Server:
    process: subprocess.Popen
    endpoint_url: str

    @classmethod
    def start(cls, log_path: Path) -> S3Server:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        endpoint_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint_url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the S3 server did not start; see {log_path}") from None
                time.sleep(0.1)
        return cls(process=process, endpoint_url=endpoint_url)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class Bucket:
    name: str
    endpoint_url: str

    @property
    def env(self) -> dict[str, str]:
        """The environment that puts a server's media in this bucket."""
        return {
            "S3_BUCKET": self.name,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    @property
    def client(self):  # boto3 makes its client classes at run time: no type to name
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def keys(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"] for page in pages for item in page.get("Contents", ())}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    @contextmanager
    def as_media_storage(self, *, endpoint_url: str = "") -> Iterator[None]:
        """This process's media in the bucket, configured as a deployment would be (reached
        through ``endpoint_url`` when given: a slow link)."""
        env = self.env | ({"S3_ENDPOINT_URL": endpoint_url} if endpoint_url else {})
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            storages = {
                "default": media_storage(),
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            }
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        with override_settings(STORAGES=storages):
            yield


def bucket_create(server: S3Server) -> Bucket:
    bucket = Bucket(name=f"photochanger-{uuid.uuid4().hex[:12]}", endpoint_url=server.endpoint_url)
    bucket.client.create_bucket(Bucket=bucket.name)
    return bucket


class SlowLink:
    """A TCP relay to ``target`` that holds each chunk a client sends for ``delay`` seconds:
    a bucket at the end of an event's slow uplink. Answers come back at once."""

    def __init__(self, target: str, *, delay: float) -> None:
        address = urlsplit(target)
        self.target = (address.hostname, address.port)
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, self.delay)).start()
            threading.Thread(target=self._pump, args=(upstream, client, 0.0)).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                time.sleep(delay)
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
