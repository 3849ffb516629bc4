"""Data-quality checks: their outcomes on normalised sample exports, and a blocking check keeping
an emptied export out of the warehouse in a real run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from pipelines.definitions import DAILY_JOB, build_definitions
from proforma_io import quality
from proforma_io.config import load_settings
from proforma_io.normalise import normalise_export
from proforma_io.sandbox import Sandbox, SandboxData
from proforma_io.tables import ProjectTables

SAMPLES = Path(__file__).parent / "data" / "samples"
HR_SAMPLE = SAMPLES / "hr-onboarding.responses.json"


def normalised(path: Path, template_id: int = 3) -> ProjectTables:
    export = normalise_export(
        path,
        project_key="HR",
        template_id=template_id,
        export_id="responses-json-HR-3-1",
        fmt="json",
        fields=["summary"],
        wide_table="hr_onboarding",
    )
    return ProjectTables.combine("HR", [export])


def edited_sample(tmp_path: Path, edit: Any) -> Path:
    document = json.loads(HR_SAMPLE.read_text())
    edit(document)
    path = tmp_path / "hr.responses.json"
    path.write_text(json.dumps(document))
    return path


def with_response_rows(tables: ProjectTables, responses: pd.DataFrame) -> ProjectTables:
    return ProjectTables(tables.project_key, {**tables.core, "responses": responses}, tables.wide)


@pytest.fixture(scope="module")
def sample() -> ProjectTables:
    return normalised(HR_SAMPLE)


def test_clean_sample_passes_every_data_check(sample: ProjectTables) -> None:
    outcomes = [
        quality.exports_not_emptied(sample, [3], {3: 4}),
        quality.unique_issue_forms(sample),
        quality.statuses_present(sample),
        quality.quarantined_values(sample),
    ]

    assert [outcome.passed for outcome in outcomes] == [True] * 4
    assert outcomes[1].summary == "Project HR: all 4 responses are unique per template."
    assert outcomes[2].counts == {"responses": 4, "without_status": 0}


def test_repeated_issue_form_fails_uniqueness_and_names_the_pair(sample: ProjectTables) -> None:
    responses = sample.core["responses"]
    repeated = pd.concat([responses, responses[responses.response_id == "HR-102/3"]])

    outcome = quality.unique_issue_forms(with_response_rows(sample, repeated))

    assert not outcome.passed
    assert outcome.examples == ["template 3: HR-102 form 3"]
    assert outcome.counts == {"responses": 5, "repeated_keys": 1}
    assert outcome.summary.startswith("Project HR: 1 (issue, form) pairs appear more than once")


def test_same_form_id_in_two_templates_is_not_a_repeat(sample: ProjectTables) -> None:
    responses = sample.core["responses"]
    other = responses[responses.response_id == "HR-101/1"].assign(template_id=4)

    outcome = quality.unique_issue_forms(with_response_rows(sample, pd.concat([responses, other])))

    assert outcome.passed


def test_response_without_status_fails_and_names_it(sample: ProjectTables) -> None:
    responses = sample.core["responses"].copy()
    responses.loc[responses.response_id == "HR-97/1", "status"] = None

    outcome = quality.statuses_present(with_response_rows(sample, responses))

    assert not outcome.passed
    assert outcome.examples == ["HR-97/1: no status"]
    assert outcome.summary.startswith("Project HR: 1 of 4 responses have no status")


def test_unreadable_number_is_counted_as_quarantined_per_question(tmp_path: Path) -> None:
    def desk_in_words(document: dict[str, Any]) -> None:
        form = document["responses"][0]["form"]
        questions = form["design"]["questions"]
        desk = next(qid for qid, q in questions.items() if q["label"] == "Desk number")
        form["state"]["answers"][desk] = {"text": "forty-two"}

    outcome = quality.quarantined_values(normalised(edited_sample(tmp_path, desk_in_words)))

    assert not outcome.passed
    assert outcome.counts == {"template 3: Desk number": 1}
    assert outcome.examples == ["HR-101/1 Desk number: 'forty-two'"]
    assert "1 answers to number, date or time questions could not be read" in outcome.summary


def test_template_emptied_since_the_last_load_fails(tmp_path: Path) -> None:
    empty = normalised(edited_sample(tmp_path, lambda document: document.update(responses=[])))

    emptied = quality.exports_not_emptied(empty, [3], {3: 4})
    first_load = quality.exports_not_emptied(empty, [3], {})

    assert not emptied.passed
    assert emptied.examples == ["template 3"]
    assert "(template 3 had 4)" in emptied.summary
    assert emptied.counts == {"template 3": 0}
    assert first_load.passed


def test_schema_changes_list_added_removed_and_retyped_columns() -> None:
    previous = {"hr": {"a": "string", "b": "double", "gone": "string"}, "old": {"x": "string"}}
    current = {"hr": {"a": "string", "b": "string", "new": "date32[day]"}, "fresh": {"y": "int64"}}

    outcome = quality.schema_changes(current, previous)
    unchanged = quality.schema_changes(previous, previous)
    first = quality.schema_changes(current, {})

    assert not outcome.passed
    assert outcome.examples == [
        "fresh: new table with 1 columns",
        "hr.new added (date32[day])",
        "hr.gone removed",
        "hr.b changed from double to string",
        "old: no longer written",
    ]
    assert unchanged.passed and unchanged.counts["changes"] == 0
    assert first.passed and first.summary == "No previous write to compare the wide tables with."


def test_lake_and_warehouse_counts_agree_or_name_the_table_that_differs() -> None:
    agree = quality.counts_agree({"responses": 4, "answers": 9}, {"responses": 4, "answers": 9})
    differ = quality.counts_agree({"responses": 4, "answers": 9}, {"responses": 4, "answers": 8})

    assert agree.passed and agree.summary == "Lake and warehouse agree: 13 rows in 2 tables."
    assert not differ.passed
    assert differ.examples == ["answers: 9 vs 8"]


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROFORMA_USERNAME", "admin")
    monkeypatch.setenv("PROFORMA_PASSWORD", "admin")
    server = Sandbox(SandboxData.generated(seed=3, issues_per_project=5), export_seconds=0.1)
    with server.running():
        yield server


def settings_for(root: Path, sandbox: Sandbox, **export: Any):
    config = {
        "jira": {"base_url": sandbox.base_url},
        "exports": [{"project": "HR", "template": 3, **export}],
        "polling": {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.1},
    }
    path = root / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def hr_responses(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("select count(*) from responses where project_key = 'HR'")
        ).scalar_one()
    engine.dispose()
    return int(count)


def test_emptied_export_blocks_the_warehouse_load_and_keeps_its_rows(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        first = build_definitions(settings_for(tmp_path, sandbox)).resolve_job_def(DAILY_JOB)
        assert first.execute_in_process(instance=instance, partition_key="HR").success
        settings = settings_for(tmp_path, sandbox, jql='summary ~ "no issue says this"')
        loaded = hr_responses(settings.warehouse_url)

        job = build_definitions(settings).resolve_job_def(DAILY_JOB)
        result = job.execute_in_process(instance=instance, partition_key="HR", raise_on_error=False)

        evaluations = {
            e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
        executed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert not result.success
    assert executed == {"landed_exports", "lake_tables"}
    assert evaluations["export_not_emptied"].passed is False
    assert evaluations["export_not_emptied"].partition == "HR"
    assert evaluations["export_not_emptied"].description.startswith(
        f"Project HR: the new export has no responses where the warehouse has some (template 3 "
        f"had {loaded})"
    )
    assert evaluations["unique_issue_form"].passed is True
    assert loaded > 0 and hr_responses(settings.warehouse_url) == loaded
