"""WebSocket routes, and the origin check in front of them.

A browser sends a page's cookies with every WebSocket handshake to that host, whichever site
the page came from, and WebSockets have no CSRF token. So a handshake is accepted only from a
page of this same site: its Origin must name the host the handshake was sent to (what Django's
CSRF check asks of forms), or be listed in CSRF_TRUSTED_ORIGINS (a proxy that rewrites Host).
That holds for any LAN address the booth PC or a staff laptop uses, with no configuration;
channels' AllowedHostsOriginValidator would not protect anything with ALLOWED_HOSTS=*, our
default. Clients that send no Origin (scripts, not browsers) are not a cross-site risk and still
need a staff session.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import path

from stats.consumers import JobFeedConsumer

websocket_urlpatterns = [
    path("ws/stats/", JobFeedConsumer.as_asgi()),
]


class SameOriginWebSocket:
    """Refuses (403) a WebSocket handshake whose Origin is another site."""

    def __init__(self, application: object) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: object, send: object) -> object:
        if scope["type"] == "websocket" and not _origin_allowed(scope):
            # Closing before accepting makes the server refuse the handshake.
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return None
        return await self.application(scope, receive, send)


def _origin_allowed(scope: dict) -> bool:
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return True
    host = headers.get(b"host", b"").decode("latin-1").lower()
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    if urlsplit(origin).netloc.lower() == host:
        return True
    trusted_origins = [trusted.lower() for trusted in settings.CSRF_TRUSTED_ORIGINS]
    return any(_trusted(origin.lower(), trusted) for trusted in trusted_origins)


def _trusted(origin: str, trusted: str) -> bool:
    if "://*." not in trusted:
        return origin == trusted
    scheme, _, domain = trusted.partition("://*.")
    parts = urlsplit(origin)
    in_domain = parts.netloc == domain or parts.netloc.endswith("." + domain)
    return parts.scheme == scheme and in_domain


def websocket_application() -> object:
    return SameOriginWebSocket(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
