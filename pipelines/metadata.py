"""Metadata the UI shows on materialisations: column schemas, row counts, masked previews."""

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

import dagster as dg
import pandas as pd
import pyarrow as pa

from proforma_io.forms import USER_TYPES
from proforma_io.landing import LandedExport
from proforma_io.schema import CORE_TABLES, RESPONSES, SCHEMAS
from proforma_io.tables import ProjectTables

MASK = "•••"
CELL_WIDTH = 40
EMAIL_TYPES = frozenset({"te"})
# Key columns the same for every row of a partition, or in the schema already: left out of
# previews so the answers fit.
PREVIEW_HIDDEN = frozenset(
    {"project_key", "template_id", "issue_id", "form_id", "visibility", "export_id"}
)


def arrow_table_schema(schema: pa.Schema) -> dg.TableSchema:
    """A Dagster column schema from an Arrow schema."""
    return dg.TableSchema(columns=[dg.TableColumn(item.name, str(item.type)) for item in schema])


def core_schema_metadata() -> dict[str, object]:
    """Definition metadata: the responses table as the asset's column schema, and every core
    table's columns under `columns/<table>`."""
    metadata: dict[str, object] = {"dagster/column_schema": arrow_table_schema(SCHEMAS[RESPONSES])}
    for name in CORE_TABLES:
        metadata[f"columns/{name}"] = dg.MetadataValue.table_schema(
            arrow_table_schema(SCHEMAS[name])
        )
    return metadata


def wide_schema_metadata(columns: Mapping[str, Mapping[str, str]]) -> dict[str, object]:
    """`columns/<wide table>` for each wide table of a materialisation."""
    return {
        f"columns/{table}": dg.MetadataValue.table_schema(
            dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in types.items()])
        )
        for table, types in columns.items()
    }


def row_count_metadata(counts: Mapping[str, int]) -> dict[str, object]:
    """`dagster/row_count` (responses) and `rows/<table>` for each table, as numbers to plot."""
    metadata: dict[str, object] = {"dagster/row_count": counts.get(RESPONSES, 0)}
    metadata.update({f"rows/{table}": rows for table, rows in counts.items()})
    return metadata


def exports_table(landed: Sequence[LandedExport]) -> str:
    """A markdown table of the landed exports: ids, sizes, waits and whether they resumed."""
    header = "| template | format | export id | bytes | sha256 | polls | waited | resumed |"
    lines = [header, "|---|---|---|---:|---|---:|---:|---|"]
    for item in landed:
        resumed = "yes" if item.resumed else (f"replaced {item.replaces}" if item.replaces else "")
        lines.append(
            f"| {item.template_id} | {item.format} | `{item.export_id}` | {item.size_bytes:,} | "
            f"`{item.sha256[:12]}` | {item.polls} | {item.wait_seconds:.1f} s | {resumed} |"
        )
    return "\n".join(lines)


def personal_columns(tables: ProjectTables, table: str, patterns: Iterable[str]) -> set[str]:
    """Columns of a wide table to mask: names matching a pattern, and user or email questions."""
    frame = tables.wide[table]
    masked = {
        column
        for column in frame.columns
        if any(fnmatchcase(str(column).lower(), pattern) for pattern in patterns)
    }
    questions = tables.core["questions"]
    personal = questions[
        (questions["wide_table"] == table)
        & questions["question_type"].isin(USER_TYPES | EMAIL_TYPES)
    ]
    masked.update(str(column) for column in personal["wide_column"].dropna())
    return masked & {str(column) for column in frame.columns}


def preview(frame: pd.DataFrame, rows: int, masked: set[str]) -> str:
    """The first rows of a frame as a markdown table, masked columns shown as `•••`."""
    if rows == 0 or frame.empty:
        return f"({len(frame)} rows)"
    head = frame.head(rows)
    head = head[[column for column in head.columns if column not in PREVIEW_HIDDEN]]
    columns = [str(column) for column in head.columns]
    lines = [
        "| " + " | ".join(_escape(column) for column in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for values in head.itertuples(index=False):
        cells = [
            MASK if column in masked and not _missing(value) else _cell(value)
            for column, value in zip(columns, values, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    more = len(frame) - len(head)
    if more > 0:
        lines.append(f"\n{len(head)} of {len(frame)} rows; masked: {', '.join(sorted(masked))}")
    elif masked:
        lines.append(f"\nmasked: {', '.join(sorted(masked))}")
    return "\n".join(lines)


def preview_metadata(
    tables: ProjectTables, rows: int, patterns: Sequence[str]
) -> dict[str, object]:
    """`preview/<wide table>`: a few rows of each wide table with personal columns masked."""
    return {
        f"preview/{table}": dg.MetadataValue.md(
            preview(frame, rows, personal_columns(tables, table, patterns))
        )
        for table, frame in tables.wide.items()
    }


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cell(value: object) -> str:
    if _missing(value):
        return ""
    text = str(value).replace("\n", " ")
    if len(text) > CELL_WIDTH:
        text = text[: CELL_WIDTH - 1] + "…"
    return _escape(text)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")
