"""The documented production dagster.yaml: Dagster accepts every section and reads the settings
the docs promise; its PostgreSQL storage takes every secret from the environment."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

PRODUCTION = Path(__file__).resolve().parents[1] / "docs" / "dagster.production.yaml"


@pytest.fixture
def production() -> dict:
    return yaml.safe_load(PRODUCTION.read_text())


@pytest.fixture
def instance(production: dict, tmp_path: Path):
    """The production instance with SQLite standing in for PostgreSQL storage, which needs a
    server and dagster-postgres."""
    local = {**production, "storage": {"sqlite": {"base_dir": str(tmp_path / "storage")}}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(local))
    with dg.DagsterInstance.from_config(str(tmp_path)) as loaded:
        yield loaded


def test_postgres_storage_reads_every_connection_setting_from_the_environment(
    production: dict,
) -> None:
    settings = production["storage"]["postgres"]["postgres_db"]

    assert {key: value for key, value in settings.items() if key != "port"} == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "db_name": {"env": "DAGSTER_PG_DB"},
        "username": {"env": "DAGSTER_PG_USER"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
    }


def test_runs_are_retried_after_a_crash_but_not_for_failed_assets(instance) -> None:
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == 1
    assert instance.run_retries_retry_on_asset_or_op_failure is False


def test_run_monitoring_frees_the_pool_slots_of_ended_runs(instance) -> None:
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300


def test_runs_queue_one_per_project_with_op_level_pools(instance) -> None:
    config = instance.get_concurrency_config()

    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert config.pool_config.default_pool_limit == 1
    assert config.pool_config.pool_granularity.value == "op"
    assert config.run_queue_config.max_concurrent_runs == 20
    assert config.run_queue_config.tag_concurrency_limits == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
