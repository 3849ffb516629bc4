"""ProformaClient against the sandbox over real HTTP, plus credentials that never leak.

Rate limits, server errors, slow answers and broken downloads come from the sandbox's injected
faults; the two error bodies the sandbox never writes (a long HTML page, a `json` error on a
status call) come from httpx's own mock transport.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from proforma_io.auth import BasicCredentials, TokenCredentials, credentials_from_env
from proforma_io.client import ProformaClient
from proforma_io.errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    ClientRequestError,
    ConfigError,
    DownloadError,
    ForbiddenError,
    ForeignDownloadError,
    NotFoundError,
    RequestJsonError,
    ServerError,
)
from proforma_io.http_retries import RetryPolicy
from proforma_io.models import ExportRequest, ExportStatus
from proforma_io.sandbox import Fault, Sandbox, SandboxData

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


@pytest.fixture
def faulty(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox, its faults cleared before and after the test."""
    sandbox.faults.clear()
    yield sandbox
    sandbox.faults.clear()


def recording_client(sandbox: Sandbox, waits: list[float], **options: object) -> ProformaClient:
    """A client whose retry waits are recorded in `waits` instead of slept."""
    return ProformaClient(
        sandbox.base_url,
        credentials=ADMIN,
        retry_sleep=waits.append,
        **options,  # type: ignore[arg-type]
    )


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

    with pytest.raises(ForeignDownloadError, match="refusing to send credentials there"):
        client.download_export(status, io.BytesIO())

    assert dict(sandbox.stats.downloads) == downloads_before


def test_download_of_an_unfinished_export_is_refused(client: ProformaClient) -> None:
    status = ExportStatus(type="responses-json", id="x", complete=False, progress=40)

    with pytest.raises(DownloadError, match="export x has no file to download: complete=False"):
        client.download_export(status, io.BytesIO())


# Retries of status calls: rate limits, server errors, slow answers


def test_status_call_is_retried_on_503_and_429_honouring_numeric_retry_after(
    faulty: Sandbox,
) -> None:
    waits: list[float] = []
    with recording_client(faulty, waits) as api:
        started = api.start_export(hr_request())
        faulty.faults.add(
            Fault.http(503, call="status", retry_after="2"),
            Fault.http(429, call="status", retry_after="0.5"),
        )
        status = api.export_status(started.id)

    assert status.id == started.id
    assert waits == [2.0, 0.5]
    assert faulty.stats.status_polls[started.id] == 1  # the faults answered before the API
    assert faulty.faults.applied == [
        "503 on status (Retry-After: 2)",
        "429 on status (Retry-After: 0.5)",
    ]


def test_retry_after_zero_retries_at_once(faulty: Sandbox) -> None:
    waits: list[float] = []
    with recording_client(faulty, waits) as api:
        started = api.start_export(hr_request())
        faulty.faults.add(Fault.http(429, call="status", retry_after="0", times=2))
        status = api.export_status(started.id)

    assert status.id == started.id
    assert waits == [0.0, 0.0]


def test_retry_after_as_an_http_date_waits_until_that_time(faulty: Sandbox) -> None:
    waits: list[float] = []
    with recording_client(faulty, waits) as api:
        started = api.start_export(hr_request())
        faulty.faults.add(Fault.http(503, call="status", retry_after="date+3"))
        api.export_status(started.id)

    # An HTTP date has whole seconds, so the wait is a little under three seconds.
    assert len(waits) == 1
    assert 1.0 < waits[0] <= 3.0


def test_retry_after_longer_than_the_longest_wait_fails_at_once(faulty: Sandbox) -> None:
    waits: list[float] = []
    faulty.faults.add(Fault.http(429, call="status", retry_after="120"))

    with (
        recording_client(faulty, waits, retry=RetryPolicy(max_wait=30)) as api,
        pytest.raises(ApiError) as caught,
    ):
        api.export_status("responses-json-HR-3-1")

    assert waits == []
    assert caught.value.status_code == 429
    assert str(caught.value).startswith("status of export responses-json-HR-3-1 refused (429)")
    assert str(caught.value).endswith("(Retry-After: 120)")


def test_status_call_without_retry_after_backs_off_exponentially(faulty: Sandbox) -> None:
    waits: list[float] = []
    faulty.faults.add(Fault.http(502, call="status", times=3))

    with recording_client(faulty, waits, retry=RetryPolicy(attempts=4, backoff=0.5)) as api:
        started = api.start_export(hr_request())
        status = api.export_status(started.id)

    assert status.id == started.id
    assert waits == [0.5, 1.0, 2.0]


def test_status_call_gives_up_after_its_attempts_with_the_server_message(
    faulty: Sandbox,
) -> None:
    waits: list[float] = []
    faulty.faults.add(Fault.http(500, call="status", times=None))

    with (
        recording_client(faulty, waits, retry=RetryPolicy(attempts=3)) as api,
        pytest.raises(ServerError) as caught,
    ):
        api.export_status("responses-json-HR-3-1")

    assert str(caught.value) == (
        "status of export responses-json-HR-3-1 failed (500 server): "
        "The sandbox answered 500 Internal Server Error."
    )
    assert len(waits) == 2
    assert faulty.faults.applied.count("500 on status") == 3


def test_status_answered_past_the_timeout_is_asked_again(faulty: Sandbox) -> None:
    waits: list[float] = []
    with recording_client(faulty, waits, timeout=0.3) as api:
        started = api.start_export(hr_request())
        faulty.faults.add(Fault.slow(1.0, call="status"))
        status = api.export_status(started.id)

    assert status.id == started.id
    assert len(waits) == 1
    assert faulty.stats.status_polls[started.id] == 2


def test_status_call_is_not_retried_on_a_client_error(faulty: Sandbox) -> None:
    waits: list[float] = []

    with (
        recording_client(faulty, waits) as api,
        pytest.raises(NotFoundError, match="status of export responses-json-HR-3-7 refused"),
    ):
        api.export_status("responses-json-HR-3-7")

    assert waits == []
    assert faulty.stats.status_polls["responses-json-HR-3-7"] == 1


def test_json_error_on_a_status_call_is_not_retried() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"error": "json", "message": "bad", "details": "line 1"})

    waits: list[float] = []
    with (
        ProformaClient(
            "http://jira.test/jira", transport=httpx.MockTransport(answer), retry_sleep=waits.append
        ) as api,
        pytest.raises(RequestJsonError, match=r"\(400 json\): bad; details: line 1"),
    ):
        api.export_status("e1")

    assert waits == []
    assert len(calls) == 1


def test_server_error_body_is_truncated_in_the_message() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>" + "x" * 5000 + "</html>")

    with (
        ProformaClient(
            "http://jira.test/jira",
            transport=httpx.MockTransport(answer),
            retry=RetryPolicy(attempts=1),
        ) as api,
        pytest.raises(ServerError) as caught,
    ):
        api.export_status("e1")

    assert len(str(caught.value)) < 500
    assert "more characters)" in str(caught.value)


# Starting an export: repeated only when the server cannot have acted on it


@pytest.mark.parametrize("status", [429, 503])
def test_start_refused_unprocessed_is_sent_again_and_starts_one_export(
    faulty: Sandbox, status: int
) -> None:
    waits: list[float] = []
    before = len(faulty.stats.exports_started)
    faulty.faults.add(Fault.http(status, call="start", retry_after="1"))

    with recording_client(faulty, waits) as api:
        started = api.start_export(hr_request())

    assert waits == [1.0]
    assert faulty.stats.exports_started[before:] == [started.id]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_start_that_may_have_been_acted_on_is_never_sent_again(
    faulty: Sandbox, status: int
) -> None:
    waits: list[float] = []
    calls_before = faulty.stats.calls.get("start", 0)
    faulty.faults.add(Fault.http(status, call="start"))

    with (
        recording_client(faulty, waits) as api,
        pytest.raises(
            ServerError, match=rf"start export of HR template 3 failed \({status} server"
        ),
    ):
        api.start_export(hr_request())

    assert waits == []
    assert faulty.stats.calls["start"] == calls_before + 1


def test_start_answered_past_the_timeout_is_not_sent_again(faulty: Sandbox) -> None:
    waits: list[float] = []
    before = len(faulty.stats.exports_started)
    faulty.faults.add(Fault.slow(1.0, call="start"))

    with (
        recording_client(faulty, waits, timeout=0.3) as api,
        pytest.raises(ApiConnectionError, match="start export of HR template 3 failed: could not"),
    ):
        api.start_export(hr_request())

    assert waits == []
    # The server started the export; only its answer was late.
    assert len(faulty.stats.exports_started) == before + 1


def test_unreachable_server_is_tried_again_for_status_and_for_start() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/jira"
    status_waits: list[float] = []
    start_waits: list[float] = []

    with (
        ProformaClient(base_url, timeout=2, retry_sleep=status_waits.append) as api,
        pytest.raises(ApiConnectionError, match="status of export e1 failed: could not reach"),
    ):
        api.export_status("e1")
    # A refused connection never carried the request, so even a start is safe to repeat.
    with (
        ProformaClient(base_url, timeout=2, retry_sleep=start_waits.append) as api,
        pytest.raises(ApiConnectionError, match="start export of HR template 3 failed"),
    ):
        api.start_export(hr_request())

    assert status_waits == [0.5, 1.0, 2.0]
    assert start_waits == [0.5, 1.0, 2.0]


def test_form_change_refused_with_503_is_sent_again_and_adds_one_form(faulty: Sandbox) -> None:
    waits: list[float] = []
    faulty.faults.add(Fault.http(503, call="form", retry_after="0"))

    with recording_client(faulty, waits) as api:
        first = api.add_form("HR-101", 3)
        second = api.add_form("HR-101", 3)

    assert waits == [0.0]
    assert second.forms[0].id == first.forms[0].id + 1


# Downloads: never repeated


def test_dropped_download_raises_download_error_and_the_file_is_gone(
    faulty: Sandbox, client: ProformaClient
) -> None:
    status = wait_complete(client, client.start_export(hr_request()))
    faulty.faults.add(Fault.dropped_download(1200))

    with pytest.raises(DownloadError) as caught:
        client.download_export(status, io.BytesIO())
    with pytest.raises(NotFoundError):
        client.download_export(status, io.BytesIO())

    assert str(caught.value).startswith(f"download of export {status.id} broke off after 1200 of ")
    assert faulty.stats.downloads[status.id] == 2


def test_download_shorter_than_its_content_length_raises_download_error(
    faulty: Sandbox, client: ProformaClient
) -> None:
    status = wait_complete(client, client.start_export(hr_request()))
    faulty.faults.add(Fault.short_download(300))

    with pytest.raises(DownloadError, match=r"broke off after 300 of \d+ bytes"):
        client.download_export(status, io.BytesIO())


def test_download_failing_with_503_is_not_repeated_by_the_client(
    faulty: Sandbox, client: ProformaClient
) -> None:
    status = wait_complete(client, client.start_export(hr_request()))
    calls_before = faulty.stats.calls.get("download", 0)
    faulty.faults.add(Fault.http(503, call="download", retry_after="0"))

    with pytest.raises(ServerError, match=rf"download of export {status.id} failed \(503"):
        client.download_export(status, io.BytesIO())

    assert faulty.stats.calls["download"] == calls_before + 1
