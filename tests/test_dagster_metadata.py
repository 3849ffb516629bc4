"""What the UI shows on materialisations: column schemas, row counts, export ids and waits,
masked previews; and the run tags naming project and templates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import yaml

from pipelines.assets import build_assets
from pipelines.definitions import DAILY_JOB, build_definitions
from pipelines.metadata import MASK, preview
from pipelines.resources import build_resources
from proforma_io.config import Settings, load_settings
from proforma_io.sandbox import Sandbox, SandboxData

SAMPLES = Path(__file__).parent / "data" / "samples"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("metadata")
    data = SandboxData.generated(seed=11, issues_per_project=3).merge(
        SandboxData.from_folder(SAMPLES)
    )
    server = Sandbox(data, export_seconds=0.1)
    config: dict[str, Any] = {
        "exports": [
            {"project": "HR", "template": 3, "fields": ["summary"], "table": "hr_onboarding"}
        ],
        "polling": {"initial_interval_seconds": 0.05},
        "operations": {"preview_rows": 3, "masked_columns": ["*name*", "department"]},
    }
    with server.running(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROFORMA_USERNAME", "admin")
        patch.setenv("PROFORMA_PASSWORD", "admin")
        config["jira"] = {"base_url": server.base_url}
        path = root / "proforma.yaml"
        path.write_text(yaml.safe_dump(config))
        yield load_settings(path)


@pytest.fixture(scope="module")
def run(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster"))) as instance:
        job = build_definitions(settings).resolve_job_def(DAILY_JOB)
        result = job.execute_in_process(instance=instance, partition_key="HR")
        assert result.success
        yield result, instance


def materialisation(run: Any, asset: str) -> dict[str, Any]:
    result, _ = run
    event = result.asset_materializations_for_node(asset)[0]
    return {key: value.value for key, value in event.metadata.items()}


def test_landed_exports_show_export_ids_bytes_and_wait_time(run: Any) -> None:
    metadata = materialisation(run, "landed_exports")

    [export_id] = metadata["export_ids"]
    assert export_id.startswith("responses-json-HR-3-")
    assert metadata["bytes"] > 0
    assert metadata["wait_seconds"] >= 0.1
    assert metadata["resumed"] == 0
    table = metadata["exports"].splitlines()
    assert table[0].startswith("| template | format | export id | bytes | sha256 | polls |")
    assert table[2].startswith(f"| 3 | json | `{export_id}` | ")


def test_lake_tables_show_row_counts_and_the_wide_table_columns(run: Any) -> None:
    metadata = materialisation(run, "lake_tables")

    assert metadata["dagster/row_count"] == metadata["rows/responses"] > 0
    assert metadata["rows/hr_onboarding"] == metadata["rows/responses"]
    assert metadata["rows/answers"] > metadata["rows/responses"]
    columns = {column.name: column.type for column in metadata["columns/hr_onboarding"].columns}
    assert columns["response_id"] == "string"
    assert columns["desk_number"] == "double"
    assert columns["start_date"] == "date32[day]"


def test_preview_masks_configured_and_personal_columns(run: Any) -> None:
    text = materialisation(run, "lake_tables")["preview/hr_onboarding"]

    header = text.splitlines()[0]
    assert "| response_id | issue_key | status | updated_at | employee_name |" in header
    assert "export_id" not in header and "project_key" not in header
    assert "山田 太郎" not in text and "Priya Raman" not in text
    assert "Engineering" not in text
    assert MASK in text
    assert text.endswith(
        "3 of 4 rows; masked: buddies, department, employee_name, line_manager, work_email"
    )
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == 1 + 3


def test_core_tables_carry_their_column_schema_on_the_definition(settings: Settings) -> None:
    spec = next(
        spec
        for spec in build_definitions(settings).resolve_assets_def("warehouse_tables").specs
        if spec.key == dg.AssetKey("warehouse_tables")
    )

    schema = spec.metadata["dagster/column_schema"]
    answers = spec.metadata["columns/answers"].value
    assert [column.name for column in schema.columns][:3] == [
        "project_key",
        "template_id",
        "response_id",
    ]
    assert "value_number" in {column.name for column in answers.columns}


def test_job_runs_are_tagged_with_the_project_and_its_templates(run: Any) -> None:
    result, instance = run

    tags = instance.get_run_by_id(result.run_id).tags

    assert tags["proforma/project"] == "HR"
    assert tags["proforma/templates"] == "3"


def test_runs_without_project_tags_get_them_from_the_assets(
    settings: Settings, tmp_path: Path
) -> None:
    landed_exports = build_assets(settings)[0]
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(
            [landed_exports],
            partition_key="HR",
            instance=instance,
            resources=build_resources(settings),
        )
        tags = instance.get_run_by_id(result.run_id).tags

    assert "proforma/project" not in result.job_def.get_tags_for_partition_key("HR", None)
    assert tags["proforma/project"] == "HR"
    assert tags["proforma/templates"] == "3"


def test_preview_of_a_frame_escapes_pipes_shortens_long_text_and_hides_masked_values() -> None:
    frame = pd.DataFrame(
        {
            "response_id": ["A-1/1", "A-2/1"],
            "note": ["a | b", "x" * 60],
            "email": ["a@example.com", None],
        }
    )

    text = preview(frame, 5, {"email"})

    lines = text.splitlines()
    assert lines[0] == "| response_id | note | email |"
    assert lines[2] == f"| A-1/1 | a \\| b | {MASK} |"
    assert lines[3] == "| A-2/1 | " + "x" * 39 + "… |  |"
    assert lines[-1] == "masked: email"
