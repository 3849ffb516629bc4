"""The daily job end to end: a real Dagster instance, the sandbox over HTTP, real SQLite and
Parquet files, every partition; and a lake named by a URI."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from pipelines.definitions import DAILY_JOB, build_definitions
from proforma_io.config import Settings, load_settings
from proforma_io.errors import LakeError
from proforma_io.load import lake_row_counts, load_warehouse
from proforma_io.sandbox import Sandbox, SandboxData

SAMPLES = Path(__file__).parent / "data" / "samples"
PROJECTS = ["HR", "ITSD", "OPS"]
VOLATILE = {"export_id", "loaded_at"}


@pytest.fixture(scope="module")
def sandbox():
    data = SandboxData.generated(seed=7, issues_per_project=6).merge(
        SandboxData.from_folder(SAMPLES)
    )
    server = Sandbox(data, context_path="/jira", export_seconds=0.2)
    with server.running():
        yield server


@pytest.fixture(scope="module")
def settings(sandbox, tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("pipeline")
    config = {
        "jira": {"base_url": sandbox.base_url, "timeout_seconds": 10},
        "exports": [
            {
                "project": "HR",
                "template": 3,
                "fields": ["summary", "priority", "customfield_10012"],
                "table": "hr_onboarding",
            },
            {"project": "ITSD", "template": 11, "table": "itsd_incidents"},
            {"project": "OPS", "template": 7},
            {"project": "OPS", "template": 8, "format": "xlsx", "fields": ["summary"]},
        ],
        "polling": {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.2},
    }
    path = root / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


@pytest.fixture(scope="module")
def credentials():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROFORMA_USERNAME", "admin")
        patch.setenv("PROFORMA_PASSWORD", "admin")
        yield


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster"))) as instance:
        yield instance


def run_all(settings: Settings, instance: dg.DagsterInstance, **kwargs) -> None:
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    for project in PROJECTS:
        result = job.execute_in_process(instance=instance, partition_key=project, **kwargs)
        assert result.success, project


def snapshot(settings: Settings) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(settings.warehouse_url)
    names = ["responses", "answers", "jira_fields", "questions", "hr_onboarding", "form_ops_8"]
    tables = {}
    with engine.connect() as conn:
        for name in names:
            frame = pd.read_sql_table(name, conn)
            frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
            tables[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    engine.dispose()
    return tables


@pytest.fixture(scope="module")
def first_run(settings, credentials, instance, sandbox):
    run_all(settings, instance)
    return snapshot(settings)


def test_every_partition_materialises_every_asset(first_run, instance):
    keys = ["landed_exports", "lake_tables", "warehouse_tables"]

    for key in keys:
        materialised = instance.get_materialized_partitions(dg.AssetKey(key))
        assert materialised == set(PROJECTS), key


def test_warehouse_holds_the_sample_values(first_run, settings):
    responses = first_run["responses"]
    hr = responses[responses.project_key == "HR"]
    wide = first_run["hr_onboarding"].set_index("response_id")

    assert sorted(hr.response_id) == ["HR-101/1", "HR-102/1", "HR-102/3", "HR-97/1"]
    assert dict(zip(hr.response_id, hr.status, strict=True)) == {
        "HR-101/1": "submitted",
        "HR-102/1": "locked",
        "HR-102/3": "open",
        "HR-97/1": "submitted",
    }
    assert wide.loc["HR-101/1", "department"] == "Engineering"
    assert wide.loc["HR-101/1", "desk_number"] == 42
    assert wide.loc["HR-97/1", "employee_name"] == "山田 太郎"
    assert wide.loc["HR-97/1", "desk_number"] == 1_000_000


def test_answers_keep_one_row_per_choice_and_the_other_text(first_run):
    answers = first_run["answers"]
    equipment = answers[
        (answers.response_id == "HR-101/1") & (answers.question_label == "Equipment needed")
    ].sort_values("value_index")

    assert list(equipment.choice_label) == ["Laptop", "Monitor", "Other"]
    assert equipment.value_text.iloc[2] == "Standing desk"


def test_xlsx_export_loads_alongside_json_in_the_same_project(first_run):
    responses = first_run["responses"]
    ops = responses[responses.project_key == "OPS"]

    assert set(ops.template_id) == {7, 8}
    assert set(ops[ops.template_id == 7].response_id) == {"OPS-12/1", "OPS-15/2"}
    assert set(ops[ops.template_id == 8].form_model) == {"xlsx"}
    assert len(first_run["form_ops_8"]) == (ops.template_id == 8).sum() > 0


def test_parquet_lake_matches_the_warehouse_and_reads_in_duckdb(first_run, settings):
    pattern = str(settings.lake_dir / "responses" / "*" / "*.parquet")

    rows = duckdb.sql(
        f"select project_key, count(*) from read_parquet('{pattern}', hive_partitioning=true) "
        "group by project_key order by project_key"
    ).fetchall()

    expected = first_run["responses"].groupby("project_key").size()
    assert rows == [(key, int(expected[key])) for key in PROJECTS]


def test_each_export_file_is_downloaded_exactly_once(first_run, sandbox):
    assert len(sandbox.stats.exports_started) == 4
    assert all(count == 1 for count in sandbox.stats.downloads.values())
    assert set(sandbox.stats.downloads) == set(sandbox.stats.exports_started)


def test_reloading_from_landed_files_never_contacts_the_api(first_run, settings, instance, sandbox):
    requests_before = len(sandbox.stats.requests)
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)

    for project in PROJECTS:
        result = job.execute_in_process(
            instance=instance,
            partition_key=project,
            asset_selection=[dg.AssetKey("lake_tables"), dg.AssetKey("warehouse_tables")],
        )
        assert result.success

    assert len(sandbox.stats.requests) == requests_before
    assert_same_tables(first_run, snapshot(settings))


def test_a_second_run_exports_again_and_leaves_identical_tables(
    first_run, settings, instance, sandbox
):
    run_all(settings, instance)

    assert len(sandbox.stats.exports_started) == 8
    assert all(count == 1 for count in sandbox.stats.downloads.values())
    assert_same_tables(first_run, snapshot(settings))


def assert_same_tables(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_daily_schedule_requests_one_tagged_run_per_project(settings):
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("daily_load_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=pd.Timestamp("2026-12-03T02:00", tz="UTC").to_pydatetime(),
        repository_def=defs.get_repository_def(),
    )

    requests = list(schedule.evaluate_tick(context).run_requests or [])

    assert schedule.cron_schedule == "0 2 * * *"
    assert [r.partition_key for r in requests] == PROJECTS
    assert [r.run_key for r in requests] == [f"{p}-2026-12-03T02:00" for p in PROJECTS]
    assert requests[2].tags["proforma/templates"] == "7,8"


def test_lake_named_by_a_uri_is_written_and_loaded_through_pyarrow(
    first_run, settings, instance, tmp_path
):
    lake = tmp_path / "object-store" / "lake"
    config = yaml.safe_load((settings.base_dir / "proforma.yaml").read_text())
    config["paths"] = {"landing": str(settings.landing_dir), "lake": lake.as_uri()}
    config["warehouse"] = {"url": f"sqlite:///{tmp_path / 'dw.db'}"}
    path = tmp_path / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    uri_settings = load_settings(path)
    job = build_definitions(uri_settings).resolve_job_def(DAILY_JOB)

    result = job.execute_in_process(
        instance=instance,
        partition_key="HR",
        asset_selection=[dg.AssetKey("lake_tables"), dg.AssetKey("warehouse_tables")],
    )

    assert uri_settings.lake_location == lake.as_uri()
    assert (lake / "responses" / "project_key=HR" / "part-0.parquet").is_file()
    assert (lake / "_projects" / "HR.json").is_file()
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["counts_match_lake"] is True
    engine = sa.create_engine(uri_settings.warehouse_url)
    with engine.connect() as conn:
        loaded = pd.read_sql_table("hr_onboarding", conn)
    engine.dispose()
    expected = first_run["hr_onboarding"]
    assert sorted(loaded.response_id) == sorted(expected[expected.project_key == "HR"].response_id)


def test_lake_uri_that_pyarrow_cannot_open_is_refused_naming_it():
    with pytest.raises(LakeError, match=r"^the lake nope://bucket/lake cannot be opened: "):
        lake_row_counts("nope://bucket/lake", "HR")


def test_loading_a_project_never_written_to_a_uri_lake_names_what_is_missing(tmp_path):
    lake = (tmp_path / "lake").as_uri()

    with pytest.raises(LakeError, match=r"^project HR: the lake at file://.* has no manifest"):
        load_warehouse(f"sqlite:///{tmp_path / 'dw.db'}", lake, "HR")
    assert lake_row_counts(lake, "HR") == {}
