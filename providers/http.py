"""The one place that builds HTTP clients for provider calls: timeouts, headers, limits.

Each provider call gets a fresh client, closed when the call ends (also when it is cancelled, which
is how the provider learns that nobody waits anymore). An image takes the provider seconds to make,
so a new connection and TLS handshake per call cost little; a shared pool would be bound to the
event loop that created it, and Django may run async code on more than one.

Also how a failed call is worded in a job's failure details: an excerpt of an unexpected answer,
an httpx error without its request, a JSON ``error`` object.
"""

from __future__ import annotations

import functools
import ssl

import certifi
import httpx

USER_AGENT = "PhotoChanger/0.1"
# Reaching the provider should be quick; a slow connect means it is down or unreachable.
CONNECT_TIMEOUT_SECONDS = 5.0
# A client serves one provider call: a connection or two at a time, none kept for later.
_LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=0)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds on the event loop; do it once per process.
    return ssl.create_default_context(cafile=certifi.where())


def provider_client(*, timeout: float) -> httpx.AsyncClient:
    """An HTTP client for one provider call; ``timeout`` bounds each read, write and pool wait."""
    timeout = max(timeout, 0.1)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_SECONDS, timeout)),
        limits=_LIMITS,
        headers={"User-Agent": USER_AGENT},
        verify=_ssl_context(),
        # Proxy variables in the server's environment are not meant for provider traffic.
        trust_env=False,
        follow_redirects=False,
    )


# How much of a provider's unexpected answer goes into a job's failure details.
EXCERPT_CHARS = 200


def text_excerpt(text: str) -> str:
    """``text`` on one line, cut to EXCERPT_CHARS."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def error_description(error: Exception) -> str:
    """What an httpx error says, for a job's failure details (never its request or headers)."""
    return str(error) or type(error).__name__


def json_error_object(response: httpx.Response) -> dict:
    """The ``error`` object of a JSON error answer (Gemini's and OpenAI's shape), else {}."""
    # Proxies and load balancers in front of the provider answer some errors in HTML.
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
