"""The lake's registry of pinned wide columns: `<lake>/_wide/<table>.json`, one per wide table.

It holds the same decisions the warehouse keeps in `wide_columns` and `schema_changes` (see
`evolution`), so that the lake and the warehouse give a question the same column. A registry is
read, planned against and written while its table's lock file is held, so two writers of one
wide table take turns.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from proforma_io.atomic_files import replace_text
from proforma_io.errors import LakeError
from proforma_io.schema import QUESTIONS
from proforma_io.writers.evolution import (
    ColumnPlan,
    SchemaChange,
    Stamp,
    WideColumn,
    adopt_columns,
    claimed_columns,
    conform,
    kind_of,
    plan_columns,
)

WIDE_DIR = "_wide"
PARTITION_FILE = "part-0.parquet"  # parquet.PART_FILE, which imports this module


def registry_path(lake: Path, table: str) -> Path:
    """Where the registry of one wide table lives."""
    return lake / WIDE_DIR / f"{table}.json"


# Limitation: the locks are POSIX file locks, honoured between processes of one machine; two
# machines writing one wide table of a shared (network) lake at the same moment can lose one
# registry update. Let one machine write the lake, as the pipeline does.
@contextmanager
def locked(lake: Path, tables: Sequence[str]) -> Iterator[None]:
    """Hold the lock of every named wide table, taken in name order so writers never deadlock."""
    folder = lake / WIDE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for table in sorted(set(tables)):
            handle = stack.enter_context((folder / f"{table}.lock").open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
            stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        yield


def plan_table(
    lake: Path, table: str, frame: pa.Table, questions: pa.Table, stamp: Stamp
) -> ColumnPlan:
    """Plan one wide table's write against its registry; a lake without one adopts its files."""
    claimed = claimed_columns(questions, table)
    pinned = read_registry(lake, table)
    adopted: list[SchemaChange] = []
    if not pinned:
        existing, old_claims = _existing_columns(lake, table)
        pinned, adopted = adopt_columns(table, existing, old_claims, [], stamp)

    plan = plan_columns(table, frame, claimed, pinned, stamp)
    return ColumnPlan(plan.wide_table, plan.columns, plan.sources, [*adopted, *plan.changes])


def read_registry(lake: Path, table: str) -> list[WideColumn]:
    """The pinned columns of a wide table, in order; none when the table has no registry."""
    return _items(lake, table, "columns", WideColumn)


def read_changes(lake: Path, table: str) -> list[SchemaChange]:
    """Every schema change the lake recorded for a wide table, oldest first."""
    return _items(lake, table, "changes", SchemaChange)


def write_registry(lake: Path, plan: ColumnPlan) -> Path:
    """Store the plan's columns and append its changes, replacing the file atomically."""
    path = registry_path(lake, plan.wide_table)
    history = [asdict(change) for change in read_changes(lake, plan.wide_table)]
    body = {
        "wide_table": plan.wide_table,
        "columns": [asdict(column) for column in plan.columns],
        "changes": history + [asdict(change) for change in plan.changes],
    }
    try:
        replace_text(path, json.dumps(body, indent=2, default=_json_default) + "\n")
    except OSError as exc:
        raise LakeError(f"wide table {plan.wide_table}: cannot write {path}: {exc}") from exc
    return path


def conform_partition(lake: Path, table: str, partition: pa.Table) -> pa.Table:
    """A partition written before a later change, read with the registry's columns and types."""
    pinned = read_registry(lake, table)
    if not pinned:
        return partition
    # Reading records nothing: the stamp only fills the plan's (discarded) bookkeeping.
    stamp = Stamp(None, pinned[0].last_seen_at, "")
    return conform(partition, plan_columns(table, partition, {}, pinned, stamp))


def _items(lake: Path, table: str, part: str, kind: Any) -> list[Any]:
    """One part of a registry file as `kind` objects; an unreadable file is a LakeError."""
    path = registry_path(lake, table)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return [_from_json(kind, item) for item in body.get(part, [])]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise LakeError(
            f"wide table {table}: registry {path} is unreadable ({exc}); expected the JSON the "
            "lake writer keeps there"
        ) from exc


def _existing_columns(lake: Path, table: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The columns (name, kind) of the table's partition files, and which questions name them."""
    existing: dict[str, str] = {}
    claimed: dict[str, str] = {}
    for folder in sorted((lake / table).glob("project_key=*")):
        schema = pq.read_schema(folder / PARTITION_FILE)
        for field in schema:
            existing.setdefault(field.name, kind_of(field.type))
        questions = folder.parent.parent / QUESTIONS / folder.name / PARTITION_FILE
        if questions.exists():
            claims = claimed_columns(pq.read_table(questions), table)
            claimed.update({k: v for k, v in claims.items() if k not in claimed})
    return list(existing.items()), claimed


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a lake registry")


def _from_json(kind: Any, item: dict[str, Any]) -> Any:
    values = dict(item)
    for field in fields(kind):
        if field.name.endswith("_at") or field.name == "at":
            values[field.name] = datetime.fromisoformat(values[field.name])
    return kind(**values)
