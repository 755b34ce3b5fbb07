"""The upstream hooks our server and ingest endpoint rely on, checked against what is installed.

Each test names a behaviour of Django, django-ninja, daphne or Twisted that photochanger.server or
ingest.api builds on. An upgrade that changes one fails here, loudly, before it reaches an event.
"""

from __future__ import annotations

import inspect

import daphne.server  # installs the asyncio reactor before Twisted's web modules load
from daphne.http_protocol import HTTPFactory, WebRequest
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler
from django.core.handlers.asgi import ASGIHandler
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


def test_the_application_sends_through_the_servers_handle_reply() -> None:
    # PacedServer makes the application wait in handle_reply while its client is behind.
    source = inspect.getsource(daphne.server.Server.create_application)
    assert "send=partial(self.handle_reply, protocol)" in source
    assert inspect.iscoroutinefunction(daphne.server.Server.handle_reply)
    for name in ("registerProducer", "unregisterProducer", "producer"):
        assert hasattr(http.Request, name), name


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


def test_django_upload_handler_takes_the_file_name_second() -> None:
    # UploadToDisk shortens the name it passes on to Django's handler.
    source = inspect.getsource(TemporaryFileUploadHandler.new_file)
    assert "super().new_file(*args, **kwargs)" in source
    assert list(inspect.signature(FileUploadHandler.new_file).parameters)[1:3] == [
        "field_name",
        "file_name",
    ]


def test_django_sends_responses_in_chunks_of_its_handlers_chunk_size() -> None:
    # photochanger.asgi.DjangoHTTP raises it to 1 MiB.
    assert "self.chunk_bytes(" in inspect.getsource(ASGIHandler.send_response)
    assert "cls.chunk_size" in inspect.getsource(ASGIHandler.chunk_bytes)
