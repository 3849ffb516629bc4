"""Column lists into pandas frames with an exact Arrow schema and nullable dtypes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa


def typed_frame(
    table_schema: pa.Schema, columns: Mapping[str, Sequence[Any]], constants: dict[str, Any]
) -> pd.DataFrame:
    """A frame with exactly the schema's columns and types; constants fill every row."""
    length = len(next(iter(columns.values()))) if columns else 0
    arrays = []
    for field in table_schema:
        column = columns.get(field.name)
        if isinstance(column, pa.Array):
            arrays.append(column.cast(field.type))
        elif column is not None:
            arrays.append(pa.array(column, type=field.type))
        else:
            arrays.append(pa.array([constants.get(field.name)] * length, type=field.type))
    table = pa.Table.from_arrays(arrays, schema=table_schema)
    return table.to_pandas(types_mapper=_pandas_dtype)


def transpose(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Row tuples as column lists."""
    if not rows:
        return [[] for _ in range(width)]
    # Every row has `width` items by construction; strict checking would double the cost.
    return [list(column) for column in zip(*rows, strict=False)]


def _pandas_dtype(arrow_type: pa.DataType) -> Any:
    """Nullable pandas dtypes: strings, Int64, Float64, Arrow-backed dates and times."""
    if pa.types.is_string(arrow_type):
        return pd.StringDtype("pyarrow")
    if pa.types.is_int64(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_float64(arrow_type):
        return pd.Float64Dtype()
    if pa.types.is_date32(arrow_type) or pa.types.is_time64(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None
