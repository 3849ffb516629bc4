"""A lake named by a URI (s3://, gs://, abfs://, file://), reached through pyarrow's filesystems.

The Parquet writer works on a local folder and swaps a project's partitions by renaming them,
which object stores cannot do. A lake given as a URI is therefore written to a local staging
copy first and then uploaded: every partition file of the project, then its manifest last. A
load reads the manifest and downloads the files it lists. The layout is the local one:
`<lake>/<table>/project_key=<PROJECT>/part-0.parquet` and `<lake>/_projects/<PROJECT>.json`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from proforma_io.errors import LakeError, truncate
from proforma_io.schema import CORE_TABLES, QUARANTINE
from proforma_io.writers.lake_columns import WIDE_DIR, registry_path
from proforma_io.writers.parquet import (
    MANIFESTS_DIR,
    PART_FILE,
    PARTITION_COLUMN,
    ParquetWrite,
    TableFile,
)

log = logging.getLogger(__name__)

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

Lake = str | os.PathLike[str]


def is_uri(lake: Lake) -> bool:
    """Whether the lake is named by a URI rather than a local path."""
    return bool(_URI.match(str(lake)))


def open_lake(lake: Lake) -> tuple[pafs.FileSystem, str]:
    """The filesystem of the lake and the lake's root path inside it."""
    if not is_uri(lake):
        return pafs.LocalFileSystem(), Path(lake).absolute().as_posix()
    try:
        filesystem, root = pafs.FileSystem.from_uri(str(lake))
    except (pa.ArrowException, ValueError) as exc:
        raise LakeError(f"the lake {lake} cannot be opened: {truncate(str(exc))}") from exc
    return filesystem, root.rstrip("/")


def partition_file(root: str, table: str, project: str) -> str:
    """The path of one project's partition file of one table, inside the lake's filesystem."""
    return f"{root}/{table}/{PARTITION_COLUMN}={project}/{PART_FILE}"


def manifest_path(root: str, project: str) -> str:
    return f"{root}/{MANIFESTS_DIR}/{project}.json"


def read_manifest(lake: Lake, project: str) -> dict[str, Any] | None:
    """The project's manifest in the lake, or None before its first write."""
    filesystem, root = open_lake(lake)
    path = manifest_path(root, project)
    try:
        with filesystem.open_input_stream(path) as stream:
            body: dict[str, Any] = json.loads(stream.read())
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise LakeError(
            f"project {project}: manifest {path} in the lake at {lake} is unreadable: {exc}"
        ) from exc
    return body


def upload_project(staged: Path, lake: Lake, written: ParquetWrite) -> ParquetWrite:
    """Copy a project written to the local `staged` lake into the lake, manifest last.

    Returns the write with the paths of the uploaded files inside the lake's filesystem.
    """
    # Limitation: object stores replace each file atomically but not a set of files, so while
    # an upload runs a reader may find some tables new and others old; the manifest is uploaded
    # last, so a reader that follows it never finds a table it lists missing.
    filesystem, root = open_lake(lake)
    project = written.project_key
    local = pafs.LocalFileSystem()
    uploads = [
        (item.path, partition_file(root, item.table, project), item) for item in written.files
    ]

    files = []
    for source, target, item in uploads:
        _copy(local, source.as_posix(), filesystem, target, project)
        files.append(TableFile(item.table, Path(target), item.rows, item.bytes))
    for table in _wide_tables(written):
        registry = registry_path(staged, table)
        if registry.exists():
            _copy(local, registry.as_posix(), filesystem, _registry_file(root, table), project)
    manifest = manifest_path(root, project)
    _copy(local, written.manifest.as_posix(), filesystem, manifest, project)

    log.info("Uploaded project %s to the lake at %s: %d files.", project, lake, len(files) + 1)
    return ParquetWrite(project, files, Path(manifest))


def download_registries(lake: Lake, tables: Iterable[str], staged: Path, project: str) -> None:
    """Copy the column registries of wide tables into the local `staged` lake, where they exist.

    A write pins each question's column in the registry; without it a staged write would name
    columns afresh and a relabelled question would get a new column.
    """
    filesystem, root = open_lake(lake)
    local = pafs.LocalFileSystem()
    for table in tables:
        source = _registry_file(root, table)
        if filesystem.get_file_info(source).type == pafs.FileType.NotFound:
            continue
        target = registry_path(staged, table)
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(filesystem, source, local, target.as_posix(), project)


def _registry_file(root: str, table: str) -> str:
    return f"{root}/{WIDE_DIR}/{table}.json"


def _wide_tables(written: ParquetWrite) -> list[str]:
    core = set(CORE_TABLES) | {QUARANTINE}
    return sorted({item.table for item in written.files} - core)


def download_project(lake: Lake, project: str, staged: Path) -> Path:
    """Copy the project's manifest and the partitions it lists into the local `staged` lake."""
    manifest = read_manifest(lake, project)
    if manifest is None:
        raise LakeError(
            f"project {project}: the lake at {lake} has no manifest; expected the project to "
            "have been written first"
        )
    filesystem, root = open_lake(lake)
    local = pafs.LocalFileSystem()
    tables = [*manifest.get("core_tables", []), *manifest.get("wide_tables", [])]

    for table in tables:
        target = staged / table / f"{PARTITION_COLUMN}={project}" / PART_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(filesystem, partition_file(root, table, project), local, target.as_posix(), project)
    manifests = staged / MANIFESTS_DIR
    manifests.mkdir(parents=True, exist_ok=True)
    (manifests / f"{project}.json").write_text(json.dumps(manifest), encoding="utf-8")
    return staged


def _copy(
    source_fs: pafs.FileSystem,
    source: str,
    target_fs: pafs.FileSystem,
    target: str,
    project: str,
) -> None:
    try:
        target_fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        pafs.copy_files(
            source, target, source_filesystem=source_fs, destination_filesystem=target_fs
        )
    except (OSError, pa.ArrowException) as exc:
        raise LakeError(
            f"project {project}: copying {source} to {target} failed: {truncate(str(exc))}"
        ) from exc
