"""ProformaClient against the sandbox over real HTTP, plus credentials that never leak.

A few cases need answers the sandbox never gives (a short body, 503 with Retry-After); those run
against a small scripted HTTP server on a local socket.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from proforma_io.auth import BasicCredentials, TokenCredentials, credentials_from_env
from proforma_io.client import ProformaClient
from proforma_io.errors import (
    ApiConnectionError,
    AuthenticationError,
    ClientRequestError,
    ConfigError,
    DownloadError,
    ForbiddenError,
    NotFoundError,
    RequestJsonError,
    ServerError,
)
from proforma_io.models import ExportRequest, ExportStatus
from proforma_io.sandbox import Sandbox, SandboxData

ADMIN = BasicCredentials("admin", "admin")
TOKEN = "sandbox-admin-token"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=42, issues_per_project=10)
    server = Sandbox(data, context_path="/jira", export_seconds=0.3)
    with server.running():
        yield server


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[ProformaClient]:
    with ProformaClient(sandbox.base_url, credentials=ADMIN, timeout=10) as api:
        yield api


def hr_request(**overrides: object) -> ExportRequest:
    values: dict[str, object] = {
        "type": "responses-json",
        "project_key": "HR",
        "template_form_id": 3,
    }
    values.update(overrides)
    return ExportRequest.model_validate(values)


def wait_complete(client: ProformaClient, status: ExportStatus) -> ExportStatus:
    deadline = time.monotonic() + 10
    while not status.complete:
        assert time.monotonic() < deadline, f"export {status.id} never completed"
        time.sleep(0.05)
        status = client.export_status(status.id)
    return status


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Credentials


def test_credential_reprs_never_show_the_secret() -> None:
    basic = BasicCredentials("admin", "s3cr3t-pass")
    token = TokenCredentials("tok-abc-123")

    assert repr(basic) == "BasicCredentials(username='admin', password=***)"
    assert str(basic) == repr(basic)
    assert repr(token) == "TokenCredentials(token=***)"
    assert "tok-abc-123" not in f"{token} {token!r} {[token]}"
    assert "s3cr3t-pass" not in f"{basic} {basic!r} {[basic]} { ({'auth': basic}) }"


def test_credentials_from_env_reads_variables_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PF_TOKEN", raising=False)
    monkeypatch.setenv("PF_USER", "admin")
    monkeypatch.setenv("PF_PASSWORD", "first")
    first = credentials_from_env("PF_USER", "PF_PASSWORD", "PF_TOKEN")
    monkeypatch.setenv("PF_PASSWORD", "second")
    second = credentials_from_env("PF_USER", "PF_PASSWORD", "PF_TOKEN")
    monkeypatch.setenv("PF_TOKEN", "tok")
    third = credentials_from_env("PF_USER", "PF_PASSWORD", "PF_TOKEN")

    assert first == BasicCredentials("admin", "first")
    assert second == BasicCredentials("admin", "second")
    assert third == TokenCredentials("tok")


def test_missing_credential_variable_is_named_in_the_error() -> None:
    environ = {"PF_USER": "admin"}

    with pytest.raises(ConfigError, match="environment variable PF_PASSWORD is not set"):
        credentials_from_env("PF_USER", "PF_PASSWORD", environ=environ)
    with pytest.raises(ConfigError, match="PF_TOKEN is not set"):
        credentials_from_env(token_env="PF_TOKEN", environ=environ)
    with pytest.raises(ConfigError, match="PF_U and PF_P are not set, and neither is .*PF_T"):
        credentials_from_env("PF_U", "PF_P", "PF_T", environ=environ)


def test_client_repr_and_errors_never_show_credentials(sandbox: Sandbox) -> None:
    secret = "very-secret-password-42"
    credentials = BasicCredentials("admin", secret)

    with (
        ProformaClient(sandbox.base_url, credentials=credentials) as api,
        pytest.raises(AuthenticationError) as caught,
    ):
        api.start_export(hr_request())

    shown = f"{api!r} {caught.value} {caught.value!r} {vars(caught.value)}"

    assert secret not in shown
    assert "Authorization" not in shown


def test_base_url_with_user_info_is_refused() -> None:
    with pytest.raises(ValueError, match="must not carry a user or password"):
        ProformaClient("http://admin:admin@127.0.0.1:1/jira")


# Export calls against the sandbox


def test_start_export_returns_the_running_export(client: ProformaClient) -> None:
    status = client.start_export(hr_request())

    assert status.type == "responses-json"
    assert status.id.startswith("responses-json-HR-3")
    assert status.failed is False
    assert 0 <= status.progress <= 100


def test_complete_export_points_its_download_at_the_api_under_the_context_path(
    client: ProformaClient, sandbox: Sandbox
) -> None:
    status = wait_complete(client, client.start_export(hr_request()))

    assert status.complete and not status.failed
    assert status.progress == 100
    assert status.download_url is not None
    assert str(client.api_root.join(status.download_url)).startswith(
        f"{sandbox.base_url}/rest/proforma/1/export/{status.id}/"
    )
    assert status.file_name is not None and status.file_name.endswith(".json")


def test_download_streams_the_whole_file_and_returns_its_size(client: ProformaClient) -> None:
    status = wait_complete(client, client.start_export(hr_request()))
    dest = io.BytesIO()

    written = client.download_export(status, dest)

    assert written == len(dest.getvalue())
    assert written > 100
    assert json.loads(dest.getvalue())


def test_second_download_is_refused_as_not_found(client: ProformaClient, sandbox: Sandbox) -> None:
    status = wait_complete(client, client.start_export(hr_request()))
    client.download_export(status, io.BytesIO())

    with pytest.raises(NotFoundError) as caught:
        client.download_export(status, io.BytesIO())

    assert caught.value.status_code == 404
    assert f"download of export {status.id} refused (404" in str(caught.value)
    assert sandbox.stats.downloads[status.id] == 2


def test_token_credentials_are_sent_as_bearer(sandbox: Sandbox) -> None:
    with ProformaClient(sandbox.base_url, credentials=TokenCredentials(TOKEN)) as api:
        status = api.start_export(hr_request(type="responses-xlsx"))

    assert status.id.startswith("responses-xlsx-HR-3")


def test_base_url_without_the_context_path_is_not_found(sandbox: Sandbox) -> None:
    root = sandbox.base_url.removesuffix("/jira")

    with ProformaClient(root, credentials=ADMIN) as api, pytest.raises(NotFoundError):
        api.start_export(hr_request())


@pytest.mark.parametrize(
    "credentials",
    [BasicCredentials("admin", "wrong"), TokenCredentials("wrong-token"), None],
    ids=["wrong-password", "wrong-token", "none"],
)
def test_bad_credentials_raise_authentication_error(
    sandbox: Sandbox, credentials: BasicCredentials | TokenCredentials | None
) -> None:
    with (
        ProformaClient(sandbox.base_url, credentials=credentials) as api,
        pytest.raises(AuthenticationError) as caught,
    ):
        api.start_export(hr_request())

    assert caught.value.status_code == 401
    assert str(caught.value).startswith("start export of HR template 3 refused (401")


def test_user_without_export_permission_is_forbidden(sandbox: Sandbox) -> None:
    agent = BasicCredentials("agent", "agent")

    with (
        ProformaClient(sandbox.base_url, credentials=agent) as api,
        pytest.raises(ForbiddenError) as caught,
    ):
        api.start_export(hr_request())

    assert caught.value.status_code == 403
    assert caught.value.error == "forbidden"
    assert str(caught.value).startswith("start export of HR template 3 refused (403 forbidden)")


def test_unknown_project_raises_client_request_error_with_the_server_message(
    client: ProformaClient,
) -> None:
    with pytest.raises(ClientRequestError) as caught:
        client.start_export(hr_request(project_key="HX"))

    error = caught.value
    assert error.status_code == 400
    assert error.error == "client"
    assert error.server_message and "HX" in error.server_message
    expected = f"start export of HX template 3 refused (400 client): {error.server_message}"
    assert str(error) == expected


def test_unknown_export_id_raises_not_found(client: ProformaClient) -> None:
    with pytest.raises(NotFoundError, match="status of export responses-json-HR-3-0 refused"):
        client.export_status("responses-json-HR-3-0")


def test_each_http_call_logs_one_debug_line_without_credentials(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="proforma_io.client")

    with ProformaClient(sandbox.base_url, credentials=TokenCredentials(TOKEN)) as api:
        status = api.start_export(hr_request())
        status = wait_complete(api, status)
        api.download_export(status, io.BytesIO())

    lines = [r.getMessage() for r in caplog.records if r.name == "proforma_io.client"]
    assert lines[0].startswith("POST /jira/rest/proforma/1/export -> 200 in ")
    assert lines[1].startswith(f"GET /jira/rest/proforma/1/export/{status.id} -> 200 in ")
    assert lines[-1].startswith(f"GET /jira/rest/proforma/1/export/{status.id}/")
    assert all(line.endswith(" ms") for line in lines)
    assert TOKEN not in caplog.text
    assert "Bearer" not in caplog.text


# Downloads that must not be sent


@pytest.mark.parametrize(
    "download_url",
    [
        "https://evil.example.com/jira/rest/proforma/1/export/x/file.json",
        "http://127.0.0.1:{other_port}/jira/rest/proforma/1/export/x/file.json",
        "https://127.0.0.1:{port}/jira/rest/proforma/1/export/x/file.json",
    ],
    ids=["other-host", "other-port", "other-scheme"],
)
def test_download_url_on_another_origin_is_refused_before_any_request(
    client: ProformaClient, sandbox: Sandbox, download_url: str
) -> None:
    port = client.api_root.port
    url = download_url.format(port=port, other_port=free_port())
    status = ExportStatus(
        type="responses-json", id="x", complete=True, progress=100, download_url=url
    )
    downloads_before = dict(sandbox.stats.downloads)

    with pytest.raises(DownloadError, match="refusing to send credentials there"):
        client.download_export(status, io.BytesIO())

    assert dict(sandbox.stats.downloads) == downloads_before


def test_download_of_an_unfinished_export_is_refused(client: ProformaClient) -> None:
    status = ExportStatus(type="responses-json", id="x", complete=False, progress=40)

    with pytest.raises(DownloadError, match="export x has no file to download: complete=False"):
        client.download_export(status, io.BytesIO())


# Answers the sandbox never gives, from a scripted local HTTP server


@dataclass
class Scripted:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_body_at: int | None = None


class ScriptedServer:
    """Answers each request with the next scripted response; records request lines."""

    def __init__(self, answers: list[Scripted]) -> None:
        self.answers = list(answers)
        self.requests: list[str] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                script.answer(self)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                script.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/jira"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(f"{handler.command} {handler.path}")
        answer = self.answers.pop(0)
        handler.send_response(answer.status)
        handler.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(answer.body[: answer.cut_body_at])
        handler.close_connection = True

    def __enter__(self) -> ScriptedServer:
        serve = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        serve.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def status_body(**values: object) -> bytes:
    body = {"type": "responses-json", "id": "e1", "complete": False, "progress": 10}
    body.update(values)
    return json.dumps(body).encode()


def test_short_download_body_raises_download_error() -> None:
    body = b"x" * 5000
    with ScriptedServer([Scripted(200, body, cut_body_at=1200)]) as server:
        status = ExportStatus(
            type="responses-json",
            id="e1",
            complete=True,
            progress=100,
            download_url=f"{server.base_url}/rest/proforma/1/export/e1/f.json",
        )
        with (
            ProformaClient(server.base_url, credentials=ADMIN) as api,
            pytest.raises(DownloadError) as caught,
        ):
            api.download_export(status, io.BytesIO())

    assert str(caught.value).startswith("download of export e1 broke off after 1200 of 5000 bytes")


def test_status_call_is_retried_on_503_honouring_a_numeric_retry_after() -> None:
    answers = [
        Scripted(503, b"busy", {"Retry-After": "2"}),
        Scripted(429, b"", {"Retry-After": "0.5"}),
        Scripted(200, status_body(progress=60)),
    ]
    waits: list[float] = []

    with (
        ScriptedServer(answers) as server,
        ProformaClient(server.base_url, retry_sleep=waits.append) as api,
    ):
        status = api.export_status("e1")

    assert status.progress == 60
    assert waits == [2.0, 0.5]
    assert server.requests == ["GET /jira/rest/proforma/1/export/e1"] * 3


def test_status_call_gives_up_after_its_attempts_with_a_server_error() -> None:
    answers = [Scripted(500, b'{"error": "server", "message": "database is down"}')] * 3
    waits: list[float] = []

    with ScriptedServer(answers) as server:
        api = ProformaClient(server.base_url, status_attempts=3, retry_sleep=waits.append)
        with api, pytest.raises(ServerError) as caught:
            api.export_status("e1")

    assert str(caught.value) == "status of export e1 failed (500 server): database is down"
    assert len(waits) == 2
    assert len(server.requests) == 3


def test_status_call_is_not_retried_on_a_client_error() -> None:
    answers = [Scripted(400, b'{"error": "json", "message": "bad", "details": "line 1"}')]
    waits: list[float] = []

    with (
        ScriptedServer(answers) as server,
        ProformaClient(server.base_url, retry_sleep=waits.append) as api,
        pytest.raises(RequestJsonError, match=r"\(400 json\): bad; details: line 1"),
    ):
        api.export_status("e1")

    assert waits == []


def test_start_export_is_never_retried() -> None:
    answers = [Scripted(503, b"busy", {"Retry-After": "1"})]
    waits: list[float] = []

    with (
        ScriptedServer(answers) as server,
        ProformaClient(server.base_url, retry_sleep=waits.append) as api,
        pytest.raises(ServerError, match=r"start export of HR template 3 failed \(503\)"),
    ):
        api.start_export(hr_request())

    assert waits == []
    assert len(server.requests) == 1


def test_server_error_body_is_truncated_in_the_message() -> None:
    answers = [Scripted(502, b"<html>" + b"x" * 5000 + b"</html>")]

    with (
        ScriptedServer(answers) as server,
        ProformaClient(server.base_url, status_attempts=1) as api,
        pytest.raises(ServerError) as caught,
    ):
        api.export_status("e1")

    assert len(str(caught.value)) < 500
    assert "more characters)" in str(caught.value)


def test_unreachable_server_raises_connection_error_after_retrying_status() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/jira"
    waits: list[float] = []

    with (
        ProformaClient(base_url, timeout=2, retry_sleep=waits.append) as api,
        pytest.raises(ApiConnectionError, match="status of export e1 failed: could not"),
    ):
        api.export_status("e1")
        with pytest.raises(ApiConnectionError, match="start export of HR template 3 failed"):
            api.start_export(hr_request())

    assert len(waits) == 3
