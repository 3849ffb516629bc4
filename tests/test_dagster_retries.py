"""The export asset's retry policy with the resumable export: a retry resumes the export in
flight instead of starting another, and failures a retry cannot fix are not retried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from pipelines.definitions import DAILY_JOB, build_definitions
from proforma_io.config import Settings, load_settings
from proforma_io.sandbox import Fault, Sandbox, SandboxData

EXPORTS = [{"project": "HR", "template": 3}]


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv("PROFORMA_USERNAME", "admin")
    monkeypatch.setenv("PROFORMA_PASSWORD", "admin")
    server = Sandbox(SandboxData.generated(seed=5, issues_per_project=4), export_seconds=0.3)
    with server.running():
        yield server


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as active:
        yield active


def settings_for(root: Path, base_url: str, **overrides: Any) -> Settings:
    config = {
        "jira": {"base_url": base_url, "timeout_seconds": 2},
        "exports": EXPORTS,
        "polling": {
            "initial_interval_seconds": 0.02,
            "max_interval_seconds": 0.02,
            "restart_cooldown_seconds": 0,
        },
        "operations": {"export_retries": 3, "export_retry_delay_seconds": 0.5},
        **overrides,
    }
    path = root / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def run_exports(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    return job.execute_in_process(
        instance=instance,
        partition_key="HR",
        asset_selection=[dg.AssetKey("landed_exports")],
        raise_on_error=False,
    )


def event_types(result: dg.ExecuteInProcessResult) -> list[str]:
    return [event.event_type_value for event in result.all_events]


def test_retry_after_the_deadline_resumes_the_export_instead_of_starting_another(
    tmp_path: Path, sandbox: Sandbox, instance: dg.DagsterInstance
) -> None:
    settings = settings_for(
        tmp_path,
        sandbox.base_url,
        polling={"initial_interval_seconds": 0.02, "deadline_seconds": 0.05},
    )

    result = run_exports(settings, instance)

    assert result.success
    assert event_types(result).count("STEP_UP_FOR_RETRY") >= 1
    assert len(sandbox.stats.exports_started) == 1
    export_id = sandbox.stats.exports_started[0]
    assert sandbox.stats.downloads == {export_id: 1}
    metadata = result.asset_materializations_for_node("landed_exports")[0].metadata
    assert metadata["export_ids"].value == [export_id]
    assert metadata["resumed"].value == 1
    manifest = settings.landing_dir / "HR" / "3" / export_id / "manifest.json"
    assert json.loads(manifest.read_text())["resumed"] is True
    assert not (settings.landing_dir / "HR" / "3" / "in_flight.json").exists()


def test_export_the_server_failed_is_not_retried(
    tmp_path: Path, sandbox: Sandbox, instance: dg.DagsterInstance
) -> None:
    settings = settings_for(
        tmp_path, sandbox.base_url, exports=[{**EXPORTS[0], "jql": "this is not jql ((("}]
    )

    result = run_exports(settings, instance)

    assert not result.success
    assert "STEP_UP_FOR_RETRY" not in event_types(result)
    # The export job itself started it again twice (polling.restarts); Dagster did not retry.
    assert len(sandbox.stats.exports_started) == 3
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("Project HR cannot be exported until this is fixed: export ")
    assert "failed on the server: Error in the JQL" in message


def test_server_error_on_start_is_retried_and_the_export_lands_once(
    tmp_path: Path, sandbox: Sandbox, instance: dg.DagsterInstance
) -> None:
    sandbox.faults.add(Fault.http(500, call="start", times=2))
    settings = settings_for(
        tmp_path,
        sandbox.base_url,
        operations={"export_retries": 2, "export_retry_delay_seconds": 0},
    )

    result = run_exports(settings, instance)

    assert result.success
    assert event_types(result).count("STEP_UP_FOR_RETRY") == 2
    assert len(sandbox.stats.exports_started) == 1
    assert sandbox.stats.downloads == {sandbox.stats.exports_started[0]: 1}


def test_landing_folder_that_cannot_be_written_is_not_retried_and_starts_no_export(
    tmp_path: Path, sandbox: Sandbox, instance: dg.DagsterInstance
) -> None:
    (tmp_path / "blocked").write_text("not a folder")
    landing = tmp_path / "blocked" / "landing"
    settings = settings_for(tmp_path, sandbox.base_url, paths={"landing": str(landing)})

    result = run_exports(settings, instance)

    assert not result.success
    assert "STEP_UP_FOR_RETRY" not in event_types(result)
    assert sandbox.stats.exports_started == []
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("Project HR cannot be exported until this is fixed: cannot write ")
    assert str(landing / "HR" / "3") in message
