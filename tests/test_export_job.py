"""run_export against the sandbox over real HTTP: start or resume, poll, download once, land."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proforma_io.auth import BasicCredentials
from proforma_io.client import ProformaClient
from proforma_io.errors import (
    ExportFailedError,
    ExportTimeoutError,
    LandingError,
    NotFoundError,
)
from proforma_io.export_job import ExportSpec, PollPolicy, run_export
from proforma_io.landing import InFlightExport, Landing
from proforma_io.models import ExportStatus
from proforma_io.sandbox import Sandbox, SandboxData

FAST = PollPolicy(
    initial_interval=0.05,
    max_interval=0.2,
    multiplier=1.5,
    deadline_seconds=20,
    restart_cooldown=0,
)
HR = ExportSpec(project_key="HR", template_id=3, format="json")
ADMIN = BasicCredentials("admin", "admin")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=42, issues_per_project=10)
    server = Sandbox(data, context_path="/jira", export_seconds=0.3)
    with server.running():
        yield server


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[ProformaClient]:
    admin = BasicCredentials("admin", "admin")
    with ProformaClient(sandbox.base_url, credentials=admin, timeout=10) as api:
        yield api


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path / "landing")


def test_full_export_lands_with_matching_sha256_size_and_manifest(
    client: ProformaClient, landing: Landing
) -> None:
    landed = run_export(client, HR, landing, policy=FAST)

    content = landed.path.read_bytes()
    assert landed.path.parent == landing.root / "HR" / "3" / landed.export_id
    assert landed.export_id.startswith("responses-json-HR-3")
    assert landed.size_bytes == len(content) > 0
    assert landed.sha256 == hashlib.sha256(content).hexdigest()
    assert json.loads(content)
    manifest = json.loads((landed.path.parent / "manifest.json").read_text())
    assert manifest["sha256"] == landed.sha256
    assert manifest["size_bytes"] == landed.size_bytes
    assert manifest["export_type"] == "responses-json"
    assert manifest["polls"] == landed.polls >= 1
    assert manifest["wait_seconds"] >= 0.3
    assert landing.latest("HR", 3) == landed


def test_download_is_never_repeated(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    landed = run_export(client, HR, landing, policy=FAST)

    assert sandbox.stats.downloads[landed.export_id] == 1
    download_url = f"/jira/rest/proforma/1/export/{landed.export_id}/{landed.file_name}"
    again = ExportStatus(
        type=landed.export_type,
        id=landed.export_id,
        complete=True,
        progress=100,
        download_url=download_url,
    )
    with pytest.raises(NotFoundError):
        client.download_export(again, io.BytesIO())
    assert landing.latest("HR", 3).sha256 == landed.sha256


def test_xlsx_export_lands_as_a_workbook(client: ProformaClient, landing: Landing) -> None:
    spec = ExportSpec(project_key="OPS", template_id=8, format="xlsx")

    landed = run_export(client, spec, landing, policy=FAST)

    assert landed.export_type == "responses-xlsx"
    assert landed.file_name.endswith(".xlsx")
    assert landed.path.read_bytes()[:2] == b"PK"
    assert landing.all("OPS") == [landed]


def test_requested_fields_and_jql_are_recorded_in_the_manifest(
    client: ProformaClient, landing: Landing
) -> None:
    spec = ExportSpec(
        project_key="ITSD",
        template_id=11,
        format="json",
        fields=("summary", "priority"),
        jql="status = Done",
    )

    landed = run_export(client, spec, landing, policy=FAST)

    manifest = json.loads((landed.path.parent / "manifest.json").read_text())
    assert manifest["fields"] == ["summary", "priority"]
    assert manifest["jql"] == "status = Done"
    assert manifest["project_key"] == "ITSD"
    assert manifest["template_id"] == 11


def test_failed_export_raises_with_the_server_message(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    spec = ExportSpec(project_key="HR", template_id=3, format="json", jql="this is not jql (((")

    with pytest.raises(ExportFailedError) as caught:
        run_export(client, spec, landing, policy=FAST)

    error = caught.value
    assert error.server_message and error.server_message.startswith("Error in the JQL")
    assert str(error).startswith("export responses-json-HR-3")
    assert f"of HR template 3 failed on the server: {error.server_message}" in str(error)
    assert list(landing.template_dir("HR", 3).iterdir()) == []


def test_deadline_shorter_than_the_export_raises_timeout_without_downloading(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    policy = PollPolicy(initial_interval=0.02, max_interval=0.02, deadline_seconds=0.1)
    with pytest.raises(ExportTimeoutError) as caught:
        run_export(client, HR, landing, policy=policy)

    message = str(caught.value)
    export_id = message.split()[1]
    assert message.startswith(f"export {export_id} of HR template 3 did not complete within 0.1 s")
    assert export_id.startswith("responses-json-HR-3")
    assert export_id not in sandbox.stats.downloads
    assert [path.name for path in landing.template_dir("HR", 3).iterdir()] == ["in_flight.json"]
    recorded = landing.in_flight("HR", 3)
    assert recorded is not None and recorded.export_id == export_id


def test_poll_intervals_grow_by_the_multiplier_up_to_the_cap(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    policy = PollPolicy(initial_interval=0.01, max_interval=0.08, multiplier=2, deadline_seconds=20)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    landed = run_export(client, HR, landing, policy=policy, sleep=sleep)

    expected = [0.01, 0.02, 0.04, 0.08] + [0.08] * (len(waits) - 4)
    assert len(waits) >= 5
    assert waits == pytest.approx(expected)
    assert landed.polls == len(waits)
    assert sandbox.stats.status_polls[landed.export_id] == len(waits)


def test_progress_is_reported_until_complete_and_logged_with_the_export_id(
    client: ProformaClient, landing: Landing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="proforma_io.export_job")
    seen: list[ExportStatus] = []

    landed = run_export(client, HR, landing, policy=FAST, on_progress=seen.append)

    progress = [status.progress for status in seen]
    assert progress == sorted(progress)
    assert seen[-1].complete and progress[-1] == 100
    assert len(seen) == landed.polls + 1
    lines = [r.getMessage() for r in caplog.records if r.name == "proforma_io.export_job"]
    assert lines[0] == f"Started export {landed.export_id} of HR template 3 (responses-json)"
    assert lines[1].startswith(f"Export {landed.export_id} of HR template 3 is ")
    assert "% done after " in lines[1]
    assert lines[-1].startswith(f"Landed export {landed.export_id} of HR template 3: ")


def test_timeout_with_an_injected_clock_never_sleeps_past_the_deadline(
    client: ProformaClient, landing: Landing
) -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    policy = PollPolicy(initial_interval=4, max_interval=8, multiplier=2, deadline_seconds=10)

    with pytest.raises(ExportTimeoutError, match="within 10 s"):
        run_export(client, HR, landing, policy=policy, sleep=sleep, clock=lambda: now[0])

    assert waits == [4, 6]


def test_poll_policy_rejects_intervals_that_cannot_grow_or_end() -> None:
    with pytest.raises(ValueError, match="initial"):
        PollPolicy(initial_interval=0)
    with pytest.raises(ValueError, match="multiplier"):
        PollPolicy(multiplier=0.5)
    with pytest.raises(ValueError, match="deadline"):
        PollPolicy(deadline_seconds=0)


SLOW_SANDBOX_DEADLINE = PollPolicy(initial_interval=0.02, max_interval=0.02, deadline_seconds=0.05)


def in_flight_record(export_id: str, **changes: object) -> InFlightExport:
    fields: dict[str, object] = {
        "project_key": "HR",
        "template_id": 3,
        "format": "json",
        "export_type": "responses-json",
        "export_id": export_id,
        "started_at": datetime.now(UTC),
    }
    return InFlightExport.model_validate({**fields, **changes})


def test_export_id_is_recorded_in_flight_before_the_first_poll(
    client: ProformaClient, landing: Landing
) -> None:
    recorded: list[InFlightExport | None] = []

    def look(status: ExportStatus) -> None:
        if not recorded:
            recorded.append(landing.in_flight("HR", 3))

    landed = run_export(client, HR, landing, policy=FAST, on_progress=look)

    assert recorded[0] is not None
    assert recorded[0].export_id == landed.export_id
    assert recorded[0].export_type == "responses-json"
    assert landing.in_flight("HR", 3) is None
    assert not (landing.template_dir("HR", 3) / "in_flight.json").exists()


def test_export_interrupted_while_polling_is_resumed_instead_of_started_again(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    with pytest.raises(ExportTimeoutError):
        run_export(client, HR, landing, policy=SLOW_SANDBOX_DEADLINE)
    interrupted = landing.in_flight("HR", 3)
    assert interrupted is not None
    started_before = len(sandbox.stats.exports_started)

    landed = run_export(client, HR, landing, policy=FAST)

    assert len(sandbox.stats.exports_started) == started_before
    assert landed.export_id == interrupted.export_id
    assert sandbox.stats.downloads[landed.export_id] == 1
    assert landed.resumed is True and landed.replaces is None
    assert landed.started_at == interrupted.started_at
    assert landed.wait_seconds >= 0.3
    assert landing.in_flight("HR", 3) is None
    manifest = json.loads((landed.path.parent / "manifest.json").read_text())
    assert manifest["resumed"] is True
    assert json.loads(landed.path.read_bytes())


def test_export_downloaded_but_never_landed_is_replaced_by_a_new_one_and_says_so(
    client: ProformaClient,
    sandbox: Sandbox,
    landing: Landing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="proforma_io.export_job")
    lost = run_export(client, HR, Landing(landing.root.parent / "elsewhere"), policy=FAST)
    landing.record_in_flight(in_flight_record(lost.export_id))
    started_before = len(sandbox.stats.exports_started)

    landed = run_export(client, HR, landing, policy=FAST)

    assert len(sandbox.stats.exports_started) == started_before + 1
    assert landed.export_id != lost.export_id
    assert landed.resumed is False and landed.replaces == lost.export_id
    assert sandbox.stats.downloads[lost.export_id] == 1
    assert sandbox.stats.downloads[landed.export_id] == 1
    assert landing.in_flight("HR", 3) is None
    warning = caplog.records[-1].getMessage()
    assert warning.startswith(f"Export {lost.export_id} of HR template 3, in flight since ")
    assert "is unknown to the server" in warning and "starting a new export" in warning


def test_new_export_replacing_a_vanished_one_records_what_it_replaces(
    client: ProformaClient, landing: Landing
) -> None:
    landing.record_in_flight(in_flight_record("responses-json-HR-3-1"))
    recorded: list[InFlightExport | None] = []

    def look(status: ExportStatus) -> None:
        if not recorded:
            recorded.append(landing.in_flight("HR", 3))

    landed = run_export(client, HR, landing, policy=FAST, on_progress=look)

    assert recorded[0] is not None
    assert recorded[0].export_id == landed.export_id
    assert recorded[0].replaces == "responses-json-HR-3-1"


def test_export_in_flight_for_other_fields_is_not_resumed(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    with pytest.raises(ExportTimeoutError):
        run_export(client, HR, landing, policy=SLOW_SANDBOX_DEADLINE)
    interrupted = landing.in_flight("HR", 3)
    assert interrupted is not None
    polls_before = sandbox.stats.status_polls.get(interrupted.export_id, 0)
    with_fields = ExportSpec(project_key="HR", template_id=3, format="json", fields=("summary",))

    landed = run_export(client, with_fields, landing, policy=FAST)

    assert landed.export_id != interrupted.export_id
    assert landed.replaces == interrupted.export_id
    assert sandbox.stats.status_polls.get(interrupted.export_id, 0) == polls_before
    assert landed.fields == ["summary"]


def test_unwritable_landing_folder_fails_before_any_export_is_started(tmp_path: Path) -> None:
    # The landing path lies under a regular file: even root cannot create it, unlike a chmod.
    (tmp_path / "blocked").write_text("not a folder")
    landing = Landing(tmp_path / "blocked" / "landing")
    server = Sandbox(SandboxData.generated(seed=7, issues_per_project=2), context_path="/jira")

    with server.running(), ProformaClient(server.base_url, credentials=ADMIN) as api:
        with pytest.raises(LandingError) as raised:
            run_export(api, HR, landing, policy=FAST)

        assert server.stats.exports_started == []
    message = str(raised.value)
    assert str(tmp_path / "blocked" / "landing" / "HR" / "3") in message
    assert "the landing folder of HR template 3" in message
    assert "check that `paths.landing`" in message
    assert isinstance(raised.value.__cause__, OSError)


def test_in_flight_record_that_cannot_be_written_names_the_started_export(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    # A folder where the record belongs: the probe passes, replacing the record fails.
    blocker = landing.template_dir("HR", 3) / "in_flight.json"
    (blocker / "inside").mkdir(parents=True)
    started_before = len(sandbox.stats.exports_started)

    with pytest.raises(LandingError) as raised:
        run_export(client, HR, landing, policy=FAST)

    started = sandbox.stats.exports_started[started_before:]
    assert len(started) == 1
    message = str(raised.value)
    assert message.startswith(f"export {started[0]} of HR template 3 was started but not")
    assert f"the in-flight record of export {started[0]} to {blocker.parent}" in message
