"""Pools, retry and freshness policies, derived from the configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from pipelines import pools
from pipelines.definitions import build_definitions
from pipelines.policies import export_retry_policy, longest_gap, warehouse_freshness
from proforma_io.config import Settings, load_settings
from proforma_io.errors import ConfigError

MONDAY = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def settings_with(tmp_path: Path, **overrides: Any) -> Settings:
    config = {"exports": [{"project": "HR", "template": 3}], **overrides}
    path = tmp_path / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def test_export_pool_is_named_for_the_jira_instance(tmp_path: Path) -> None:
    sandbox = settings_with(tmp_path)
    jira = settings_with(tmp_path, jira={"base_url": "https://Jira.Example.com:8443/jira"})

    assert pools.export_pool(sandbox) == "proforma_exports.sandbox"
    assert pools.export_pool(jira) == "proforma_exports.jira.example.com:8443"


def test_only_a_sqlite_warehouse_gets_a_single_writer_pool(tmp_path: Path) -> None:
    sqlite = settings_with(tmp_path, warehouse={"url": "sqlite:///data/dw.sqlite"})
    postgres = settings_with(tmp_path, warehouse={"url": "postgresql+psycopg://dw@db/dw"})

    assert pools.warehouse_pool(sqlite) == "sqlite_writer.dw.sqlite"
    assert pools.pool_limits(sqlite) == {
        "proforma_exports.sandbox": 2,
        "sqlite_writer.dw.sqlite": 1,
    }
    assert pools.warehouse_pool(postgres) is None
    assert pools.pool_limits(postgres) == {"proforma_exports.sandbox": 2}


def test_assets_run_in_their_pools(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, operations={"export_pool_limit": 4})
    defs = build_definitions(settings)

    ops = {name: defs.resolve_assets_def(name).op for name in ("landed_exports", "lake_tables")}
    warehouse = defs.resolve_assets_def("warehouse_tables").op

    assert ops["landed_exports"].pool == "proforma_exports.sandbox"
    assert ops["lake_tables"].pool is None
    assert warehouse.pool == "sqlite_writer.warehouse.db"


def test_pools_command_sets_the_configured_limits_in_the_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_with(tmp_path, operations={"export_pool_limit": 3})
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PROFORMA_CONFIG", str(tmp_path / "proforma.yaml"))

    assert pools.main() == 0

    with dg.DagsterInstance.get() as instance:
        limits = {
            pool: instance.event_log_storage.get_concurrency_info(pool).slot_count
            for pool in ("proforma_exports.sandbox", "sqlite_writer.warehouse.db")
        }
    assert limits == {"proforma_exports.sandbox": 3, "sqlite_writer.warehouse.db": 1}
    assert capsys.readouterr().out.splitlines() == [
        "Pool proforma_exports.sandbox: at most 3 at a time.",
        "Pool sqlite_writer.warehouse.db: at most 1 at a time.",
    ]


def test_pools_command_refuses_a_broken_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROFORMA_CONFIG", str(tmp_path / "missing.yaml"))

    assert pools.main() == 2
    assert "missing.yaml not found" in capsys.readouterr().err


def test_export_retries_follow_the_configuration(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, operations={"export_retries": 5, "export_retry_delay_seconds": 12}
    )

    policy = export_retry_policy(settings)

    assert (policy.max_retries, policy.delay) == (5, 12)
    assert policy.backoff == dg.Backoff.EXPONENTIAL
    assert policy.jitter == dg.Jitter.PLUS_MINUS


def test_daily_schedule_makes_the_warehouse_stale_a_day_and_the_grace_after_a_load(
    tmp_path: Path,
) -> None:
    settings = settings_with(tmp_path, operations={"freshness_grace_minutes": 90})

    policy = warehouse_freshness(settings, now=MONDAY)

    assert policy.fail_window.to_timedelta() == timedelta(hours=25, minutes=30)
    assert policy.warn_window.to_timedelta() == timedelta(hours=24, minutes=45)


def test_weekday_schedule_allows_for_the_weekend(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, schedule={"cron": "0 2 * * 1-5"})

    policy = warehouse_freshness(settings, now=MONDAY)

    assert policy.fail_window.to_timedelta() == timedelta(days=3, hours=2)


def test_longest_gap_counts_real_hours_across_a_daylight_saving_change() -> None:
    october = datetime(2026, 10, 20, tzinfo=UTC)

    assert longest_gap("0 2 * * *", "UTC", october) == timedelta(days=1)
    assert longest_gap("0 2 * * *", "Europe/Berlin", october) == timedelta(days=1, hours=1)


def test_warehouse_tables_carry_the_freshness_policy(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    spec = next(iter(build_definitions(settings).resolve_assets_def("warehouse_tables").specs))

    assert spec.freshness_policy is not None
    assert spec.freshness_policy.fail_window.to_timedelta() == timedelta(hours=26)


def test_masked_columns_are_lower_cased_and_a_blank_pattern_is_refused(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, operations={"masked_columns": [" Email* ", "*NAME*"]})

    assert settings.operations.masked_columns == ("email*", "*name*")
    with pytest.raises(ConfigError, match=r"operations\.masked_columns: expected column names"):
        settings_with(tmp_path, operations={"masked_columns": ["*name*", " "]})


def test_operations_keys_are_checked_like_the_rest_of_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(tmp_path, operations={"export_pool_limit": 0, "pool": 3})

    message = str(caught.value)
    assert "operations.export_pool_limit: Input should be greater than or equal to 1" in message
    assert "operations.pool: Extra inputs are not permitted" in message
