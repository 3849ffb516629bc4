"""The UI paths end to end: the real `dagster dev` (webserver, daemon, code server) on a temporary
instance, driven through the webserver's GraphQL API the way the UI drives it.

One module-scoped set of services serves every test: the schedule is switched on as soon as the
code location loads (its every-minute tick fires while the backfill runs), then a backfill of
every project partition is launched from the asset graph's selection.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
import yaml

from pipelines.pools import apply_pool_limits, export_pool, warehouse_pool
from proforma_io.config import Settings, load_settings
from proforma_io.sandbox import SandboxData

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[1]
LOCATION = "proforma_warehouse"
REPOSITORY = "__repository__"
SCHEDULE = "daily_load_schedule"
PROJECTS = ["HR", "ITSD", "OPS"]
TEMPLATES = {"HR": [3], "ITSD": [11], "OPS": [7, 8]}
ASSETS = ["landed_exports", "lake_tables", "warehouse_tables"]
LAKE_CHECKS = [
    "export_not_emptied",
    "unique_issue_form",
    "status_present",
    "schema_changes",
    "quarantined_values",
]
SEED, ISSUES = 42, 4
STARTUP_SECONDS = 90
BACKFILL_SECONDS = 150
TICK_SECONDS = 150

INSTANCE_YAML = {
    "telemetry": {"enabled": False},
    "run_coordinator": {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {"dequeue_interval_seconds": 1},
    },
    "run_monitoring": {"enabled": True, "free_slots_after_run_end_seconds": 5},
    "concurrency": {"pools": {"granularity": "op"}},
}


@dataclass
class Services:
    """The running `dagster dev` and what the tests need to reach it."""

    url: str
    home: Path
    settings: Settings
    log: Path

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def wait(self, what: str, seconds: float, probe: Callable[[], Any]) -> Any:
        """Call `probe` every second until it returns something truthy, or fail saying `what`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(1)
        tail = self.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"{what} did not happen within {seconds:g} s; dagster dev said:\n{tail}")

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_configuration(root: Path) -> Path:
    config = {
        "sandbox": {"seed": SEED, "issues_per_project": ISSUES, "export_seconds": 0.2},
        "exports": [
            {"project": "HR", "template": 3, "fields": ["summary"], "table": "hr_onboarding"},
            {"project": "ITSD", "template": 11},
            {"project": "OPS", "template": 7},
            {"project": "OPS", "template": 8, "format": "xlsx"},
        ],
        "polling": {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.2},
        "schedule": {"cron": "* * * * *"},
        "operations": {
            "export_pool_limit": 1,
            "export_retries": 1,
            "export_retry_delay_seconds": 1,
        },
    }
    path = root / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def location_loaded(services: Services) -> bool:
    data = services.graphql(
        """{ workspaceOrError { ... on Workspace { locationEntries {
             name locationOrLoadError { __typename } } } } }"""
    )
    entries = data["workspaceOrError"].get("locationEntries", [])
    return any(
        entry["name"] == LOCATION
        and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for entry in entries
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Interrupt `dagster dev` and everything it started; kill what is left after a while."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    root = tmp_path_factory.mktemp("dagster_ui")
    home = root / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(INSTANCE_YAML))
    config = write_configuration(root)
    settings = load_settings(config)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        apply_pool_limits(instance, settings)

    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PROFORMA_CONFIG": str(config)}
    log = root / "dagster-dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", str(REPO / "workspace.yaml")]
            + ["-p", str(port), "-h", "127.0.0.1"],
            cwd=root,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        running = Services(f"http://127.0.0.1:{port}", home, settings, log)
        running.wait("the webserver answering", STARTUP_SECONDS, lambda: _answers(running))
        running.wait("the code location loading", STARTUP_SECONDS, lambda: location_loaded(running))
        start_schedule(running)
        yield running
    finally:
        stop(process)


def _answers(services: Services) -> bool:
    try:
        return httpx.get(f"{services.url}/server_info", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def start_schedule(services: Services) -> None:
    """Switch the schedule on, as the UI's toggle does."""
    data = services.graphql(
        """mutation($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
             __typename ... on ScheduleStateResult { scheduleState { status } }
             ... on PythonError { message } } }""",
        selector=schedule_selector(),
    )
    result = data["startSchedule"]
    assert result["__typename"] == "ScheduleStateResult", result
    assert result["scheduleState"]["status"] == "RUNNING"


def schedule_selector() -> dict[str, str]:
    return {
        "repositoryLocationName": LOCATION,
        "repositoryName": REPOSITORY,
        "scheduleName": SCHEDULE,
    }


@pytest.fixture(scope="module")
def backfill(services: Services) -> dict[str, Any]:
    """Launch a backfill of every project from the asset graph and wait until it completes."""
    launched = services.graphql(
        """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams:
             $params) { __typename ... on LaunchBackfillSuccess { backfillId }
             ... on PythonError { message } } }""",
        params={
            "partitionNames": PROJECTS,
            "assetSelection": [{"path": [asset]} for asset in ASSETS],
            "title": "All projects",
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def finished() -> dict[str, Any] | None:
        found = services.graphql(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                 ... on PartitionBackfill { status isAssetBackfill numPartitions
                 runs(limit: 20) { runId status tags { key value } } } } }""",
            id=launched["backfillId"],
        )["partitionBackfillOrError"]
        return found if found["status"] != "REQUESTED" else None

    return services.wait("the backfill completing", BACKFILL_SECONDS, finished)


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def test_ui_backfill_of_several_projects_materialises_every_partition(
    services: Services, backfill: dict[str, Any]
) -> None:
    assert backfill["status"] == "COMPLETED_SUCCESS"
    assert backfill["isAssetBackfill"] is True
    assert backfill["numPartitions"] == len(PROJECTS)
    runs = backfill["runs"]
    assert sorted(tags_of(run)["dagster/partition"] for run in runs) == PROJECTS
    assert {run["status"] for run in runs} == {"SUCCESS"}
    with services.instance() as instance:
        for asset in ASSETS:
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == set(PROJECTS)


def test_backfill_runs_are_tagged_with_project_and_templates(
    services: Services, backfill: dict[str, Any]
) -> None:
    with services.instance() as instance:
        tags = [instance.get_run_by_id(run["runId"]).tags for run in backfill["runs"]]

    by_project = {tag["proforma/project"]: tag["proforma/templates"] for tag in tags}
    assert by_project == {"HR": "3", "ITSD": "11", "OPS": "7,8"}


def test_every_check_ran_and_passed_for_every_partition(
    services: Services, backfill: dict[str, Any]
) -> None:
    run_ids = {run["runId"] for run in backfill["runs"]}
    keys = [dg.AssetCheckKey(dg.AssetKey("lake_tables"), name) for name in LAKE_CHECKS]
    keys.append(dg.AssetCheckKey(dg.AssetKey("warehouse_tables"), "counts_match_lake"))

    with services.instance() as instance:
        for key in keys:
            records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
            evaluations = [
                record.event.dagster_event.event_specific_data
                for record in records
                if record.run_id in run_ids and record.event and record.event.dagster_event
            ]
            assert sorted(e.partition for e in evaluations) == PROJECTS, key
            assert all(e.passed for e in evaluations), [e.description for e in evaluations]


def test_backfill_leaves_the_generated_responses_in_the_warehouse(
    services: Services, backfill: dict[str, Any]
) -> None:
    data = SandboxData.generated(seed=SEED, issues_per_project=ISSUES)
    expected = {
        (project, template): len(list(data.forms(project, template)))
        for project, templates in TEMPLATES.items()
        for template in templates
    }
    engine = sa.create_engine(services.settings.warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select project_key, template_id, count(*) from responses group by 1, 2")
        ).all()
        wide = conn.execute(sa.text("select count(*) from hr_onboarding")).scalar_one()
    engine.dispose()

    assert {(project, int(template)): count for project, template, count in rows} == expected
    assert wide == expected[("HR", 3)] > 0


def test_schedule_tick_requests_one_tagged_run_per_project(services: Services) -> None:
    def ticked() -> dict[str, Any] | None:
        ticks = services.graphql(
            """query($selector: ScheduleSelector!) { scheduleOrError(scheduleSelector:
                 $selector) { ... on Schedule { scheduleState { ticks(limit: 5) {
                 status timestamp runKeys runs { runId status tags { key value } } } } } } }""",
            selector=schedule_selector(),
        )["scheduleOrError"]["scheduleState"]["ticks"]
        done = [
            tick
            for tick in ticks
            if tick["status"] == "SUCCESS"
            and tick["runs"]
            and all(run["status"] in ("SUCCESS", "FAILURE", "CANCELED") for run in tick["runs"])
        ]
        return done[-1] if done else None

    tick = services.wait("a schedule tick's runs finishing", TICK_SECONDS, ticked)

    runs = tick["runs"]
    tags = [tags_of(run) for run in runs]
    minute = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(tick["timestamp"]))
    assert sorted(tag["dagster/partition"] for tag in tags) == PROJECTS
    assert sorted(tick["runKeys"]) == sorted(f"{project}-{minute}" for project in PROJECTS)
    assert {tag["dagster/schedule_name"] for tag in tags} == {SCHEDULE}
    assert {tag["proforma/project"]: tag["proforma/templates"] for tag in tags} == {
        "HR": "3",
        "ITSD": "11",
        "OPS": "7,8",
    }
    assert {run["status"] for run in runs} == {"SUCCESS"}


def test_pools_keep_exports_and_warehouse_writes_one_at_a_time(
    services: Services, backfill: dict[str, Any]
) -> None:
    settings = services.settings
    pools = {export_pool(settings): "landed_exports", warehouse_pool(settings): "warehouse_tables"}

    with services.instance() as instance:
        limits = {pool: instance.event_log_storage.get_concurrency_info(pool) for pool in pools}
        runs = [run for run in instance.get_runs() if run.is_finished]
        spans = {step: _step_spans(instance, runs, step) for step in pools.values()}

    assert {pool: info.slot_count for pool, info in limits.items()} == {
        "proforma_exports.sandbox": 1,
        "sqlite_writer.warehouse.db": 1,
    }
    for step, windows in spans.items():
        assert len(windows) >= len(PROJECTS), step
        for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
            assert start >= end, f"two {step} steps ran at once"


def _step_spans(
    instance: dg.DagsterInstance, runs: list[dg.DagsterRun], step: str
) -> list[tuple[float, float]]:
    """When `step` started and finished in each run, in order of start."""
    spans = []
    for run in runs:
        times = {
            entry.dagster_event.event_type_value: entry.timestamp
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event and entry.step_key == step
        }
        if "STEP_START" in times and "STEP_SUCCESS" in times:
            spans.append((times["STEP_START"], times["STEP_SUCCESS"]))
    return sorted(spans)
