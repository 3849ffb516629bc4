"""How the export job gives exports up and starts new ones: the cool-down, the bound, what the
in-flight record and the manifest keep, and an export that stalls between two runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from proforma_io.auth import BasicCredentials
from proforma_io.client import ProformaClient
from proforma_io.errors import ExportTimeoutError, ExportVanishedError
from proforma_io.export_job import ExportSpec, PollPolicy, run_export
from proforma_io.landing import InFlightExport, Landing
from proforma_io.models import ExportStatus
from proforma_io.sandbox import Fault, Sandbox, SandboxData

HR = ExportSpec(project_key="HR", template_id=3, format="json")
POLICY = PollPolicy(
    initial_interval=0.02, max_interval=0.05, deadline_seconds=5, restarts=2, restart_cooldown=0
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        SandboxData.generated(seed=3, issues_per_project=3), export_seconds=0.05
    ).running() as running:
        yield running


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[ProformaClient]:
    sandbox.faults.clear()
    with ProformaClient(sandbox.base_url, credentials=BasicCredentials("admin", "admin")) as api:
        yield api
    sandbox.faults.clear()


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path / "landing")


def test_restart_waits_the_cool_down_and_records_the_reason_in_the_manifest(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    sandbox.faults.add(Fault.failed_export("Node restarted"))
    slept: list[float] = []

    landed = run_export(
        client,
        HR,
        landing,
        policy=replace(POLICY, restart_cooldown=7.5),
        sleep=lambda seconds: slept.append(seconds),
    )

    assert slept.count(7.5) == 1
    assert len(landed.restarts) == 1
    given_up = landed.restarts[0]
    assert given_up.export_id != landed.export_id
    assert given_up.reason == "failed on the server: Node restarted"
    assert landed.replaces == given_up.export_id
    manifest = json.loads((landed.path.parent / "manifest.json").read_text())
    assert manifest["restarts"][0]["reason"] == "failed on the server: Node restarted"
    assert manifest["download_attempts"] == 1


def test_the_new_export_is_in_flight_with_the_restarts_so_far(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    sandbox.faults.add(Fault.vanished_export(), Fault.missing_download_url())
    seen: dict[str, InFlightExport | None] = {}

    def look(status: ExportStatus) -> None:
        seen.setdefault(status.id, landing.in_flight("HR", 3))

    landed = run_export(client, HR, landing, policy=POLICY, on_progress=look, sleep=lambda s: None)

    records = [record for record in seen.values() if record is not None]
    assert [len(record.restarts) for record in records] == [0, 1, 2]
    assert [r.reason for r in landed.restarts] == [
        "vanished (404 on its status)",
        "complete without a downloadUrl",
    ]
    assert landing.in_flight("HR", 3) is None


def test_restarts_are_bounded_and_the_last_failure_says_what_was_given_up(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    sandbox.faults.add(Fault.vanished_export(times=2))
    before = len(sandbox.stats.exports_started)

    with pytest.raises(ExportVanishedError) as caught:
        run_export(
            client,
            HR,
            landing,
            policy=replace(POLICY, restarts=1),
            sleep=lambda s: None,
        )

    started = sandbox.stats.exports_started[before:]
    assert len(started) == 2
    assert str(caught.value) == (
        f"export {started[1]} of HR template 3 vanished: the server no longer knows it "
        f"(status of export {started[1]} refused (404 notFound): Export {started[1]} does not "
        "exist, or its file was already downloaded.) (after 1 restart: "
        f"{started[0]} vanished (404 on its status))"
    )
    assert landing.in_flight("HR", 3) is None


def test_export_without_progress_over_a_second_deadline_is_started_again(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    sandbox.faults.add(Fault.stalled_export(30))
    short = replace(POLICY, deadline_seconds=0.2)
    with pytest.raises(ExportTimeoutError, match="30% done"):
        run_export(client, HR, landing, policy=short)
    stalled = landing.in_flight("HR", 3)
    assert stalled is not None and stalled.timed_out_at == 30

    landed = run_export(client, HR, landing, policy=short)

    assert landed.export_id != stalled.export_id
    assert landed.resumed is False
    assert [(r.export_id, r.reason) for r in landed.restarts] == [
        (stalled.export_id, "stalled at 30%")
    ]


def test_export_that_progresses_after_a_run_gave_up_is_resumed_as_often_as_needed(
    client: ProformaClient, sandbox: Sandbox, landing: Landing
) -> None:
    slow = Sandbox(SandboxData.generated(seed=3, issues_per_project=3), export_seconds=0.6)
    with (
        slow.running(),
        ProformaClient(slow.base_url, credentials=BasicCredentials("admin", "admin")) as api,
    ):
        with pytest.raises(ExportTimeoutError):
            run_export(api, HR, landing, policy=replace(POLICY, deadline_seconds=0.1))
        waiting = landing.in_flight("HR", 3)
        assert waiting is not None and waiting.timed_out_at is not None

        landed = None
        for _ in range(30):
            try:
                landed = run_export(api, HR, landing, policy=replace(POLICY, deadline_seconds=0.1))
                break
            except ExportTimeoutError:
                continue

    assert landed is not None
    assert landed.export_id == waiting.export_id
    assert landed.resumed is True
    assert landed.restarts == []
    assert len(slow.stats.exports_started) == 1


def test_export_unknown_when_resumed_is_recorded_as_given_up(
    client: ProformaClient, landing: Landing
) -> None:
    landing.record_in_flight(
        InFlightExport.model_validate(
            {
                "project_key": "HR",
                "template_id": 3,
                "format": "json",
                "export_type": "responses-json",
                "export_id": "responses-json-HR-3-1",
                "started_at": "2026-01-01T00:00:00Z",
            }
        )
    )

    landed = run_export(client, HR, landing, policy=POLICY)

    assert landed.replaces == "responses-json-HR-3-1"
    assert [(r.export_id, r.reason) for r in landed.restarts] == [
        ("responses-json-HR-3-1", "unknown to the server when resumed (404 on its status)")
    ]
