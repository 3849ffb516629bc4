"""One project's failure does not stop the others: every project is its own partition run.

A backfill of three projects runs after a clean one: one project's export keeps failing on the
server (or its export file cannot be read), and the other two load their new exports while
the failing project keeps its previous rows in the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from pipelines.definitions import DAILY_JOB, build_definitions
from pipelines.run import run_projects
from proforma_io.config import Settings, load_settings
from proforma_io.sandbox import Fault, Sandbox, SandboxData

PROJECTS = ["HR", "ITSD", "OPS"]


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv("PROFORMA_USERNAME", "admin")
    monkeypatch.setenv("PROFORMA_PASSWORD", "admin")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    data = SandboxData.generated(seed=13, issues_per_project=3)
    with Sandbox(data, export_seconds=0.02).running() as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, sandbox: Sandbox) -> Settings:
    config = {
        "jira": {"base_url": sandbox.base_url, "timeout_seconds": 5},
        "exports": [
            {"project": "HR", "template": 3},
            {"project": "ITSD", "template": 11},
            {"project": "OPS", "template": 7},
            {"project": "OPS", "template": 8, "format": "xlsx"},
        ],
        "paths": {"landing": "landing", "lake": "lake"},
        "warehouse": {"url": "sqlite:///warehouse.db"},
        "polling": {
            "initial_interval_seconds": 0.02,
            "max_interval_seconds": 0.05,
            "restart_cooldown_seconds": 0,
        },
        "operations": {"export_retries": 0},
    }
    path = tmp_path / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def backfill(
    settings: Settings, instance: dg.DagsterInstance, projects: list[str] = PROJECTS
) -> dict[str, bool]:
    """One run per project partition, as a backfill launches them; success per project."""
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    return {
        project: job.execute_in_process(
            instance=instance, partition_key=project, raise_on_error=False
        ).success
        for project in projects
    }


def loaded_exports(settings: Settings) -> dict[str, set[str]]:
    """The export ids of each project's rows in the warehouse."""
    engine = sa.create_engine(settings.warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT DISTINCT project_key, export_id FROM responses"))
        found: dict[str, set[str]] = {}
        for project, export_id in rows:
            found.setdefault(project, set()).add(export_id)
    engine.dispose()
    return found


def failure_of(instance: dg.DagsterInstance, project: str) -> str:
    """The description of the failed step of the project's last run."""
    runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": project}), limit=1)
    for entry in instance.all_logs(runs[0].dagster_run.run_id):
        event = entry.dagster_event
        if event is not None and event.event_type_value == "STEP_FAILURE":
            return f"{event.step_key}: {event.step_failure_data.error.to_string()}"
    return ""


def test_a_project_whose_export_keeps_failing_does_not_stop_the_others(
    settings: Settings, sandbox: Sandbox
) -> None:
    with dg.instance_for_test() as instance:
        assert backfill(settings, instance, ["OPS"]) == {"OPS": True}
        previous = loaded_exports(settings)
        sandbox.faults.add(Fault.failed_export("Out of disk space", project="OPS", times=None))

        outcome = backfill(settings, instance)

        assert outcome == {"HR": True, "ITSD": True, "OPS": False}
        assert "failed on the server: Out of disk space (after 2 restarts" in failure_of(
            instance, "OPS"
        )
    now = loaded_exports(settings)
    assert now["OPS"] == previous["OPS"]
    assert len(now["HR"]) == len(now["ITSD"]) == 1
    assert sum(1 for applied in sandbox.faults.applied if "Out of disk" in applied) == 3


def test_a_project_whose_file_cannot_be_read_does_not_stop_the_others(
    settings: Settings, sandbox: Sandbox
) -> None:
    with dg.instance_for_test() as instance:
        backfill(settings, instance, ["OPS"])
        previous = loaded_exports(settings)
        template = sandbox.data.template("OPS", 8)
        assert template is not None
        template.recorded_xlsx = b"PK\x03\x04 this is not a workbook"

        outcome = backfill(settings, instance)

        assert outcome == {"HR": True, "ITSD": True, "OPS": False}
        failure = failure_of(instance, "OPS")
        assert failure.startswith("lake_tables: ")
        assert "ProForma-OPS-form-8.xlsx: expected an XLSX workbook" in failure
    now = loaded_exports(settings)
    assert now["OPS"] == previous["OPS"]
    assert len(now["HR"]) == len(now["ITSD"]) == 1
    assert (settings.landing_dir / "OPS" / "8").is_dir()


def test_the_demo_runner_reports_only_the_failed_project(
    settings: Settings, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault.http(500, call="start", project="ITSD", times=None))

    failed = run_projects(settings, PROJECTS)

    assert failed == ["ITSD"]
    assert set(loaded_exports(settings)) == {"HR", "OPS"}
