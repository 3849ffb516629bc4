"""Containers for normalised frames: one export's, and one project's across its exports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from proforma_io.schema import CORE_TABLES, QUARANTINE, SCHEMAS


@dataclass
class NormalisedExport:
    """The canonical frames of one export file (one project, one template), and the values
    set aside while normalising it (see `quarantine`)."""

    project_key: str
    template_id: int
    export_id: str
    core: dict[str, pd.DataFrame]
    wide_table: str
    wide: pd.DataFrame
    quarantine: pd.DataFrame = field(default_factory=lambda: empty_frame(QUARANTINE))

    def row_counts(self) -> dict[str, int]:
        counts = {name: len(frame) for name, frame in self.core.items()}
        counts[self.wide_table] = len(self.wide)
        return counts


@dataclass
class ProjectTables:
    """Every canonical frame of one project: the core tables and one wide table per template."""

    project_key: str
    core: dict[str, pd.DataFrame]
    wide: dict[str, pd.DataFrame] = field(default_factory=dict)
    export_ids: list[str] = field(default_factory=list)
    quarantine: pd.DataFrame = field(default_factory=lambda: empty_frame(QUARANTINE))

    @classmethod
    def combine(cls, project_key: str, exports: Sequence[NormalisedExport]) -> ProjectTables:
        """Stack the frames of several exports of one project."""
        core = {
            name: pd.concat([e.core[name] for e in exports], ignore_index=True)
            if exports
            else empty_frame(name)
            for name in CORE_TABLES
        }
        wide: dict[str, pd.DataFrame] = {}
        for export in exports:
            if export.wide_table in wide:
                raise ValueError(
                    f"project {project_key}: two exports write wide table {export.wide_table}"
                )
            wide[export.wide_table] = export.wide
        quarantine = (
            pd.concat([e.quarantine for e in exports], ignore_index=True)
            if exports
            else empty_frame(QUARANTINE)
        )
        return cls(project_key, core, wide, [e.export_id for e in exports], quarantine)

    def row_counts(self) -> dict[str, int]:
        counts = {name: len(frame) for name, frame in self.core.items()}
        counts.update({name: len(frame) for name, frame in self.wide.items()})
        return counts


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the columns and types of a core table (or the quarantine)."""
    return SCHEMAS[table].empty_table().to_pandas()


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """Convert a core-table frame to Arrow with the table's canonical schema."""
    return pa.Table.from_pandas(frame, schema=SCHEMAS[table], preserve_index=False)
