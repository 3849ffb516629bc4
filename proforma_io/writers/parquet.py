"""The Parquet lake: every table Hive-partitioned by project, a project's partitions swapped whole.

Layout under the lake folder:

    <table>/project_key=<PROJECT>/part-0.parquet   one file per table and project
    quarantine/project_key=<PROJECT>/...           values set aside (see `quarantine`)
    _projects/<PROJECT>.json                       what the project's last write holds
    _wide/<table>.json                             a wide table's pinned columns and changes
    _staging/                                      partitions being written, never read

The `project_key` column lives in the folder name, not in the file (the Hive convention), so
read a table with `pyarrow.dataset.dataset(<lake>/<table>, partitioning="hive")` or DuckDB's
`read_parquet('<lake>/<table>/project_key=*/*.parquet', hive_partitioning = true)`. Wide tables
keep their columns through form changes (see `evolution`); a wide table several projects share
can hold partitions of older shapes, so read those with DuckDB's `union_by_name = true`.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from proforma_io.atomic_files import replace_text
from proforma_io.errors import LakeError, truncate
from proforma_io.schema import CORE_TABLES, QUARANTINE, QUESTIONS, SCHEMAS, WIDE_KEY_SCHEMA
from proforma_io.tables import ProjectTables, to_arrow
from proforma_io.writers import lake_columns, lake_swap
from proforma_io.writers.evolution import ColumnPlan, SchemaChange, Stamp, conform, pin_questions

log = logging.getLogger(__name__)

PARTITION_COLUMN = "project_key"
PART_FILE = "part-0.parquet"
MANIFESTS_DIR = "_projects"
# Staging sits beside the table folders rather than inside them: DuckDB's globs match hidden
# folders, so `<table>/*/*.parquet` would read a half-written `.project_key=...` sibling. The
# lake root is one filesystem, so the final renames stay atomic.
STAGING_DIR = lake_swap.STAGING_DIR

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class TableFile:
    """One table's partition file as written."""

    table: str
    path: Path
    rows: int
    bytes: int


@dataclass(frozen=True)
class ParquetWrite:
    """The files one `write_project` call put into the lake."""

    project_key: str
    files: list[TableFile]
    manifest: Path
    schema_changes: list[SchemaChange] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, int]:
        return {item.table: item.rows for item in self.files}

    @property
    def bytes(self) -> dict[str, int]:
        return {item.table: item.bytes for item in self.files}


def partition_dir(lake: str | Path, table: str, project_key: str) -> Path:
    """The folder holding one project's partition of one table."""
    return Path(lake) / table / f"{PARTITION_COLUMN}={project_key}"


# Limitation: `lake` is a local (or mounted) path. Object-store URIs such as s3:// are not
# supported: the swap relies on atomic directory renames, which object stores lack.
def write_project(
    lake: str | Path, tables: ProjectTables, *, run_id: str | None = None
) -> ParquetWrite:
    """Replace the project's partition of every core and wide table with `tables`' frames.

    Every table is converted and written to staging first, so a frame that fails leaves the lake
    as it was. The partitions are then swapped in as one write (see `lake_swap`): one that stops
    half-way, even in a killed process, is rolled back, at once or by the project's next write or
    read. A wide table the project no longer has keeps its old partition:
    the lake holds every table ever written, while the manifest lists only the current ones.
    Wide tables get their pinned columns (`questions.wide_column` follows), and each schema
    change is recorded in the table's registry under `run_id`.
    """
    root = Path(lake)
    project = tables.project_key
    _check_name("project key", project, project)
    missing = [name for name in CORE_TABLES if name not in tables.core]
    if missing:
        raise LakeError(f"project {project}: expected core tables {missing}, they are missing")
    for name in tables.wide:
        _check_name("wide table name", name, project)
        if name in SCHEMAS:
            raise LakeError(f"project {project}: wide table name {name!r} is reserved")

    staging = root / STAGING_DIR / f"{project}-{uuid.uuid4().hex}"
    stamp = Stamp(run_id, datetime.now(UTC), project)
    with lake_swap.project_lock(_lock_file(root, project)):
        lake_swap.recover(root, project, _manifest_file(root, project))
        try:
            staging.mkdir(parents=True)
        except OSError as exc:
            raise LakeError(f"project {project}: cannot create {staging}: {exc}") from exc
        try:
            with lake_columns.locked(root, list(tables.wide)):
                frames = {name: tables.core[name] for name in CORE_TABLES}
                frames = {**frames, QUARANTINE: tables.quarantine, **tables.wide}
                arrow = {name: _to_arrow(name, frame, project) for name, frame in frames.items()}
                plans = _pin_wide_tables(root, arrow, list(tables.wide), stamp)
                staged = {name: _stage(staging, name, t, project) for name, t in arrow.items()}
                files, manifest = _swap_project(root, staging, tables, staged, plans)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    changes = [change for plan in plans for change in plan.changes]
    log.info(
        "Wrote project %s to the lake at %s: %d files, %d rows, %d bytes, %d schema changes.",
        project,
        root,
        len(files),
        sum(item.rows for item in files),
        sum(item.bytes for item in files),
        len(changes),
    )
    return ParquetWrite(project, files, manifest, changes)


def read_project(lake: str | Path, project_key: str) -> ProjectTables:
    """Read back the tables of the project's last write, with `project_key` as first column."""
    root = Path(lake)
    _check_name("project key", project_key, project_key)
    if lake_swap.needs_recovery(root, project_key):
        with lake_swap.project_lock(_lock_file(root, project_key)):
            lake_swap.recover(root, project_key, _manifest_file(root, project_key))
    manifest = _read_manifest(root, project_key)

    core = {name: _read_partition(root, name, project_key) for name in CORE_TABLES}
    wide = {name: _read_partition(root, name, project_key) for name in manifest["wide_tables"]}
    return ProjectTables(project_key, core, wide, list(manifest["export_ids"]))


def _pin_wide_tables(
    root: Path, arrow: dict[str, pa.Table], wide: list[str], stamp: Stamp
) -> list[ColumnPlan]:
    """Give each wide table its pinned columns and the questions their columns, in `arrow`."""
    project = stamp.project_key
    plans = {}
    for name in wide:
        try:
            plans[name] = lake_columns.plan_table(root, name, arrow[name], arrow[QUESTIONS], stamp)
            arrow[name] = conform(arrow[name], plans[name])
        except (pa.ArrowException, OSError, TypeError) as exc:
            raise LakeError(
                f"project {project}: wide table {name} could not take its pinned columns: "
                f"{truncate(str(exc))}; the lake is unchanged"
            ) from exc
    arrow[QUESTIONS] = pin_questions(arrow[QUESTIONS], plans)
    return list(plans.values())


def _check_name(what: str, name: str, project: str) -> None:
    if not _SAFE_NAME.fullmatch(name):
        raise LakeError(
            f"project {project}: {what} {name!r} cannot name a lake folder; expected letters, "
            "digits, '_' or '-'"
        )


def _to_arrow(name: str, frame: pd.DataFrame, project: str) -> pa.Table:
    """Convert a frame to Arrow: core tables with their canonical schema, wide tables tidied."""
    try:
        table = to_arrow(name, frame) if name in SCHEMAS else wide_to_arrow(frame)
    except (pa.ArrowException, KeyError, ValueError, TypeError) as exc:
        raise LakeError(
            f"project {project}: table {name} could not be converted to Parquet: "
            f"{truncate(str(exc))}; the lake is unchanged"
        ) from exc

    if PARTITION_COLUMN not in table.column_names:
        raise LakeError(f"project {project}: table {name} has no {PARTITION_COLUMN} column")
    keys = table.column(PARTITION_COLUMN)
    if keys.null_count or pc.any(pc.not_equal(keys, project)).as_py():
        others = sorted({str(value) for value in keys.unique().to_pylist()} - {project})
        raise LakeError(
            f"project {project}: table {name} expected only {PARTITION_COLUMN} {project}, "
            f"found {others}"
        )
    return table


def wide_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Convert a wide-table frame to Arrow, its key columns with their canonical types.

    Strings become `string` and timestamps microseconds; an all-null column of unknown type
    becomes strings, so that the partitions of several projects share one type.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for item in table.schema:
        kind = item.type
        if item.name in WIDE_KEY_SCHEMA.names:
            kind = WIDE_KEY_SCHEMA.field(item.name).type
        elif pa.types.is_large_string(kind) or pa.types.is_null(kind):
            kind = pa.string()
        elif pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", tz=kind.tz)
        fields.append(item.with_type(kind))
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _stage(staging: Path, name: str, table: pa.Table, project: str) -> int:
    """Write one table's partition file into the staging folder; return its row count."""
    folder = staging / name
    try:
        folder.mkdir()
        pq.write_table(table.drop_columns([PARTITION_COLUMN]), folder / PART_FILE)
    except (pa.ArrowException, OSError) as exc:
        raise LakeError(
            f"project {project}: table {name} could not be written to {folder}: "
            f"{truncate(str(exc))}; the lake is unchanged"
        ) from exc
    return table.num_rows


def _swap_project(
    root: Path,
    staging: Path,
    tables: ProjectTables,
    staged: dict[str, int],
    plans: list[ColumnPlan],
) -> tuple[list[TableFile], Path]:
    """Swap every staged partition in, then commit by rewriting the manifest; on any error,
    put every old partition and registry back."""
    project = tables.project_key
    targets = {name: partition_dir(root, name, project) for name in staged}
    swap = lake_swap.Swap.begin(root, project, staging, targets)
    try:
        files = []
        for name, rows in staged.items():
            path = swap.swap_in(name) / PART_FILE
            files.append(TableFile(name, path, rows, path.stat().st_size))
        for plan in plans:
            swap.keep_registry(lake_columns.registry_path(root, plan.wide_table))
            lake_columns.write_registry(root, plan)
        manifest = _write_manifest(root, tables, files, swap.write_id)
    except BaseException:
        swap.roll_back()
        raise
    swap.finish()
    return files, manifest


def _manifest_file(root: Path, project: str) -> Path:
    return root / MANIFESTS_DIR / f"{project}.json"


def _lock_file(root: Path, project: str) -> Path:
    return root / MANIFESTS_DIR / f".{project}.lock"


def _write_manifest(
    root: Path, tables: ProjectTables, files: list[TableFile], write_id: str
) -> Path:
    """Record the project's current tables and exports, replacing the file atomically; the
    write whose id it records is committed."""
    path = _manifest_file(root, tables.project_key)
    folder = path.parent
    body: dict[str, Any] = {
        "write_id": write_id,
        "project_key": tables.project_key,
        "export_ids": list(tables.export_ids),
        "core_tables": list(CORE_TABLES),
        "wide_tables": list(tables.wide),
        "files": {item.table: {"rows": item.rows, "bytes": item.bytes} for item in files},
        "written_at": datetime.now(UTC).isoformat(),
    }

    try:
        folder.mkdir(exist_ok=True)
        replace_text(path, json.dumps(body, indent=2) + "\n")
    except OSError as exc:
        raise LakeError(
            f"project {tables.project_key}: cannot write manifest {path}: {exc}"
        ) from exc
    return path


def _read_manifest(root: Path, project: str) -> dict[str, Any]:
    path = root / MANIFESTS_DIR / f"{project}.json"
    try:
        body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LakeError(
            f"project {project}: the lake at {root} has no manifest {path}; expected the project "
            "to have been written first"
        ) from exc
    except (OSError, ValueError) as exc:
        raise LakeError(f"project {project}: manifest {path} is unreadable: {exc}") from exc
    wide, exports = body.get("wide_tables"), body.get("export_ids")
    if not isinstance(wide, list) or not isinstance(exports, list):
        raise LakeError(
            f"project {project}: manifest {path} expected lists wide_tables and export_ids"
        )
    return body


def _read_partition(root: Path, name: str, project: str) -> pd.DataFrame:
    """One partition as a frame with `project_key` first, core tables in canonical order."""
    path = partition_dir(root, name, project) / PART_FILE
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise LakeError(f"project {project}: table {name}: cannot read {path}: {exc}") from exc

    keys = pa.array([project] * table.num_rows, type=pa.string())
    table = table.add_column(0, PARTITION_COLUMN, keys)
    if name in SCHEMAS:
        table = _conform(table, SCHEMAS[name])
    else:
        table = lake_columns.conform_partition(root, name, table)
    return table.to_pandas()


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Put columns in the schema's order; a column added to the schema later reads as nulls."""
    for item in schema:
        if item.name not in table.column_names:
            table = table.append_column(item, pa.nulls(table.num_rows, item.type))
    return table.select(schema.names).cast(schema.with_metadata(table.schema.metadata))
