"""The sandbox's injected faults over raw HTTP: planned from Python and from `proforma sandbox
--fault`, used up as many times as asked, scoped to a project, and recorded."""

from __future__ import annotations

import email.utils
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from proforma_io.cli import app
from proforma_io.sandbox import Fault, FaultPlan, Sandbox, SandboxData, parse_fault

API = "/rest/proforma/1"
HR = {"type": "responses-json", "projectKey": "HR", "templateFormId": 3}
OPS = {"type": "responses-json", "projectKey": "OPS", "templateFormId": 7}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=9, issues_per_project=3)
    with Sandbox(data, export_seconds=0.02).running() as running:
        yield running


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    sandbox.faults.clear()
    with httpx.Client(base_url=sandbox.base_url + API, auth=("admin", "admin")) as client:
        yield client
    sandbox.faults.clear()


def completed(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    export_id = api.post("/export", json=body).json()["id"]
    for _ in range(200):
        status: dict[str, Any] = api.get(f"/export/{export_id}").json()
        if status["complete"]:
            return status
        time.sleep(0.01)
    raise AssertionError(f"export {export_id} did not complete")


# Planning faults


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("503", Fault.http(503)),
        ("429,call=status,retry-after=0,times=2", Fault.http(429, call="status", retry_after="0",
                                                             times=2)),
        ("500,call=start,times=always", Fault.http(500, call="start", times=None)),
        ("502,retry-after=date+30,project=OPS", Fault.http(502, retry_after="date+30",
                                                           project="OPS")),
        ("slow=2.5,call=download", Fault.slow(2.5, call="download")),
        ("drop=1000", Fault.dropped_download(1000)),
        ("short=10,project=HR", Fault.short_download(10, project="HR")),
        ("fail=Disk full,times=3", Fault.failed_export("Disk full", times=3)),
        ("stall", Fault.stalled_export(50)),
        ("stall=80", Fault.stalled_export(80)),
        ("vanish", Fault.vanished_export()),
        ("no-url", Fault.missing_download_url()),
        ("foreign-url=http://other:8080", Fault.foreign_download_url("http://other:8080")),
        ("file-name=../../x.json", Fault.odd_file_name("../../x.json")),
    ],
)  # fmt: skip
def test_fault_text_reads_as_the_fault_it_names(text: str, expected: Fault) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("418", "status fault needs one of 429, 500, 502, 503, 504, not '418'"),
        ("explode", "unknown fault kind 'explode'"),
        ("503,call=everything", "unknown call 'everything'"),
        ("503,times=twice", "times must be a number or 'always', not 'twice'"),
        ("503,times=0", "a fault applies at least once, not 0 times"),
        ("503,retry-after=soon", "retry-after must be seconds (2, 0.5) or date+N, not 'soon'"),
        ("503,colour=red", "expected options call=, retry-after=, project= or times="),
        ("slow=fast", "slow fault needs a delay in seconds"),
        ("drop", "drop fault needs a whole number"),
        ("fail", "fail fault needs a value"),
    ],
)
def test_fault_text_that_makes_no_sense_is_refused_saying_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_fault(text)

    assert str(caught.value).startswith(f"fault {text!r}: ")
    assert problem in str(caught.value)


def test_a_plan_uses_each_fault_up_in_order_and_records_it() -> None:
    plan = FaultPlan([Fault.http(503, call="status", times=2), Fault.http(500)])

    taken = [plan.take(frozenset({"status"}), "status", "HR") for _ in range(4)]

    assert [str(fault) for fault in taken] == [
        "503 on status",
        "503 on status",
        "500 on any",
        "None",
    ]
    assert plan.applied == ["503 on status", "503 on status", "500 on any"]


# Faults over HTTP


def test_status_fault_answers_with_its_code_and_retry_after_then_stops(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    export_id = api.post("/export", json=HR).json()["id"]
    sandbox.faults.add(
        Fault.http(429, call="status", retry_after="3"),
        Fault.http(503, call="status", retry_after="date+60"),
    )

    limited, unavailable, served = (api.get(f"/export/{export_id}") for _ in range(3))

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert unavailable.status_code == 503
    assert unavailable.json() == {
        "error": "server",
        "message": "The sandbox answered 503 Service Unavailable.",
    }
    moment = email.utils.parsedate_to_datetime(unavailable.headers["Retry-After"])
    assert 50 < (moment - datetime.now(UTC)).total_seconds() <= 60
    assert served.status_code == 200
    assert sandbox.stats.calls["status"] >= 3


def test_a_fault_for_one_project_leaves_the_others_alone(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    sandbox.faults.add(Fault.http(500, call="start", project="OPS", times=None))

    assert api.post("/export", json=HR).status_code == 200
    assert api.post("/export", json=OPS).status_code == 500
    assert api.post("/export", json=OPS).status_code == 500
    assert sandbox.faults.applied[-2:] == ["500 on start for OPS", "500 on start for OPS"]


def test_slow_fault_holds_the_answer_back_after_acting(sandbox: Sandbox, api: httpx.Client) -> None:
    before = len(sandbox.stats.exports_started)
    sandbox.faults.add(Fault.slow(1.0, call="start"))

    with pytest.raises(httpx.ReadTimeout):
        api.post("/export", json=HR, timeout=0.2)

    assert len(sandbox.stats.exports_started) == before + 1


@pytest.mark.parametrize("fault", [Fault.dropped_download(500), Fault.short_download(500)])
def test_download_fault_breaks_the_body_off_and_the_file_is_gone(
    sandbox: Sandbox, api: httpx.Client, fault: Fault
) -> None:
    status = completed(api, HR)
    sandbox.faults.add(fault)

    with pytest.raises(httpx.RemoteProtocolError, match="received 500 bytes"):
        api.get(status["downloadUrl"])

    assert api.get(status["downloadUrl"]).status_code == 404


def test_failed_export_fault_completes_failed_with_its_message(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault.failed_export("Disk full"))

    status = completed(api, HR)

    assert (status["failed"], status["message"], "downloadUrl" in status) == (
        True,
        "Disk full",
        False,
    )


def test_stalled_export_fault_never_completes(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault.stalled_export(40))
    export_id = api.post("/export", json=HR).json()["id"]
    time.sleep(0.1)

    statuses = [api.get(f"/export/{export_id}").json() for _ in range(3)]

    assert [(s["complete"], s["progress"]) for s in statuses] == [(False, 40)] * 3


def test_vanished_export_fault_answers_404_from_its_first_status(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault.vanished_export())
    export_id = api.post("/export", json=HR).json()["id"]

    first, second = api.get(f"/export/{export_id}"), api.get(f"/export/{export_id}")

    assert (first.status_code, second.status_code) == (404, 404)
    assert first.json()["error"] == "notFound"


def test_missing_and_foreign_download_url_faults(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(
        Fault.missing_download_url(), Fault.foreign_download_url("https://elsewhere.example")
    )

    without = completed(api, HR)
    foreign = completed(api, HR)

    assert "downloadUrl" not in without and without["failed"] is False
    assert foreign["downloadUrl"].startswith(
        f"https://elsewhere.example/jira{API}/export/{foreign['id']}/"
    )


def test_odd_file_name_fault_serves_the_file_under_that_name(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault.odd_file_name("../../../escaped.json"))

    status = completed(api, HR)

    assert status["downloadUrl"].endswith("/..%2F..%2F..%2Fescaped.json")
    assert api.get(status["downloadUrl"]).json()["projectKey"] == "HR"


# From the command line


def test_bad_fault_option_exits_2_naming_it() -> None:
    result = CliRunner().invoke(app, ["sandbox", "--fault", "explode"])

    assert result.exit_code == 2
    assert "fault 'explode': unknown fault kind 'explode'" in result.output


def test_sandbox_command_serves_the_faults_it_is_given() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-c", "from proforma_io.cli import app; app()", "sandbox",
        "--port", str(port), "--issues", "2", "--fault", "503,call=start,retry-after=7",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}/jira{API}"
        answers = []
        for _ in range(300):
            try:
                answers.append(httpx.post(f"{base}/export", json=HR, auth=("admin", "admin")))
                answers.append(httpx.post(f"{base}/export", json=HR, auth=("admin", "admin")))
                break
            except httpx.ConnectError:
                time.sleep(0.05)
    finally:
        os.kill(server.pid, signal.SIGINT)
        _, errors = server.communicate(timeout=20)

    assert [(a.status_code, a.headers.get("Retry-After")) for a in answers] == [
        (503, "7"),
        (200, None),
    ]
    assert "Faults, in order:\n  503 on start (Retry-After: 7)" in errors.decode()
