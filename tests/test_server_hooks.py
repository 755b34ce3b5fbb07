"""The upstream hooks our server and ingest endpoint rely on, checked against what is installed.

Each test names a behaviour of Django, django-ninja, daphne or Twisted that photochanger.server or
ingest.api builds on. An upgrade that changes one fails here, loudly, before it reaches an event.
"""

from __future__ import annotations

import inspect

import daphne.server  # installs the asyncio reactor before Twisted's web modules load
from daphne.http_protocol import HTTPFactory, WebRequest
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from ninja.operation import AsyncOperation
from twisted.web import http

from photochanger.server import CappedChannel, CappedRequest


def test_twisted_requests_take_the_form_parse_switch() -> None:
    parameters = inspect.signature(http.Request.__init__).parameters
    assert parameters["parsePOSTFormSubmission"].default is True


def test_daphne_builds_its_factory_in_run_and_calls_ready_before_the_reactor() -> None:
    # serve() gives daphne's factory our channel class in ready_callable: after run() built the
    # factory and listened, before any connection was accepted.
    source = inspect.getsource(daphne.server.Server.run)
    assert "self.http_factory = HTTPFactory(self)" in source
    assert source.index("self.ready_callable()") < source.index("reactor.run(")
    assert "ready_callable" in inspect.signature(daphne.server.Server.__init__).parameters


def test_daphne_sets_its_own_request_class_on_each_connection() -> None:
    # CappedChannel accepts exactly this class from daphne and builds CappedRequest instead.
    assert "protocol.requestFactory = WebRequest" in inspect.getsource(HTTPFactory.buildProtocol)
    assert issubclass(CappedRequest, WebRequest)
    channel = CappedChannel()
    channel.requestFactory = WebRequest
    assert channel.requestFactory is CappedRequest


def test_twisted_channel_hooks_we_override_still_exist() -> None:
    for name in ("allHeadersReceived", "dataReceived", "length"):
        assert hasattr(http.HTTPChannel, name), name
    for name in ("handleContentChunk", "requestReceived"):
        assert hasattr(http.Request, name), name
    # Twisted answers "100 Continue" from allHeadersReceived: a refusal must come before it.
    assert "_send100Continue" in inspect.getsource(http.HTTPChannel.allHeadersReceived)


def test_ninja_runs_auth_before_it_parses_parameters() -> None:
    # The booth's early refusals (BoothPassword) must cost no form parsing.
    source = inspect.getsource(AsyncOperation.run)
    assert source.index("_run_checks") < source.index("_get_values")


def test_django_upload_handler_hook_is_new_file() -> None:
    parameters = inspect.signature(TemporaryFileUploadHandler.new_file).parameters
    assert list(parameters)[:3] == ["self", "args", "kwargs"] or "field_name" in parameters
