"""`Landing`: the landing directory where export files arrive whole, with their manifests.

Layout (see docs/architecture.md):
`<root>/<PROJECT>/<template_id>/<export_id>/<file>`, `.../<export_id>/manifest.json`,
`<root>/<PROJECT>/<template_id>/latest.json`, a copy of the newest manifest, and
`<root>/<PROJECT>/<template_id>/in_flight.json` while an export is started but not yet landed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from pydantic import BaseModel, ValidationError

from proforma_io.atomic_files import fsync_dir, replace_text
from proforma_io.errors import LandingError
from proforma_io.models import ExportFormat, ExportType

MANIFEST = "manifest.json"
LATEST = "latest.json"
IN_FLIGHT = "in_flight.json"
HASH_CHUNK = 1024 * 1024
MAX_NAME_LENGTH = 200

_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")

logger = logging.getLogger(__name__)


class ExportRestart(BaseModel):
    """An export given up for a new one: which, why, and when (UTC)."""

    export_id: str
    reason: str
    at: datetime


class CompletedExport(BaseModel):
    """What the export job knows of an export the server reported complete.

    `restarts` lists the exports given up before this one (failed, vanished, stalled, or their
    download broke off), oldest first; `download_attempts` counts the downloads of this one.
    """

    project_key: str
    template_id: int
    format: ExportFormat
    export_type: ExportType
    export_id: str
    fields: list[str] = []
    jql: str | None = None
    started_at: datetime
    completed_at: datetime
    wait_seconds: float
    polls: int
    resumed: bool = False
    replaces: str | None = None
    restarts: list[ExportRestart] = []
    download_attempts: int = 1


class InFlightExport(BaseModel):
    """An export the server started that has not landed yet: enough to resume it after a crash.

    `replaces` names the in-flight export this one was started instead of, when the server no
    longer knew that one (it vanished, or its file was downloaded but never landed). `restarts`
    carries the exports given up so far; `timed_out_at` is the progress (0-100) at which a run
    last gave up waiting for it.
    """

    project_key: str
    template_id: int
    format: ExportFormat
    export_type: ExportType
    export_id: str
    fields: list[str] = []
    jql: str | None = None
    started_at: datetime
    replaces: str | None = None
    restarts: list[ExportRestart] = []
    timed_out_at: int | None = None


class LandedExport(CompletedExport):
    """A whole export file in the landing directory and its record (the manifest)."""

    file_name: str
    path: Path
    sha256: str
    size_bytes: int
    landed_at: datetime


class Landing:
    """The landing directory: receives export files atomically and reads their manifests."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"Landing(root={str(self.root)!r})"

    def template_dir(self, project_key: str, template_id: int) -> Path:
        """The folder of one project's template: `<root>/<PROJECT>/<template_id>`."""
        return self.root / _segment(project_key, "project key") / str(int(template_id))

    def ensure_writable(self, project_key: str, template_id: int) -> Path:
        """Create the template's folder and write and remove a probe file in it.

        Run before an export is started, so a folder that cannot take the file fails the run
        before the server holds an export nobody will land. Raises `LandingError`.
        """
        folder = self.template_dir(project_key, template_id)
        with _writing(folder, f"the landing folder of {project_key} template {template_id}"):
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-", suffix=".part")
            os.close(fd)
            os.unlink(probe)
        return folder

    def receive(
        self, export: CompletedExport, file_name: str | None, write: Callable[[BinaryIO], int]
    ) -> LandedExport:
        """Land a file: `write` streams it into a temporary file, renamed into place when whole.

        The manifest and `latest.json` are written after the rename, each atomically.
        """
        folder = self.template_dir(export.project_key, export.template_id)
        folder = folder / _segment(export.export_id, "export id")
        name = safe_file_name(file_name, export.export_id, export.format)
        target = folder / name
        self._check_inside(target)

        with _writing(folder, f"export {export.export_id} of {_label(export)}"):
            folder.mkdir(parents=True, exist_ok=True)
        sha256, size = _write_atomically(target, write, export)

        landed = LandedExport(
            **export.model_dump(include=set(CompletedExport.model_fields)),
            file_name=name,
            path=target,
            sha256=sha256,
            size_bytes=size,
            landed_at=datetime.now(UTC),
        )
        manifest = landed.model_dump_json(indent=2)
        with _writing(folder, f"the manifest of export {export.export_id} of {_label(export)}"):
            replace_text(folder / MANIFEST, manifest)
            replace_text(folder.parent / LATEST, manifest)
        self.clear_in_flight(export.project_key, export.template_id, export.export_id)
        return landed

    def record_in_flight(self, export: InFlightExport) -> Path:
        """Record, atomically, that `export` was started and is not landed yet."""
        folder = self.template_dir(export.project_key, export.template_id)
        _segment(export.export_id, "export id")
        path = folder / IN_FLIGHT
        with _writing(folder, f"the in-flight record of export {export.export_id}"):
            folder.mkdir(parents=True, exist_ok=True)
            replace_text(path, export.model_dump_json(indent=2))
        return path

    def in_flight(self, project_key: str, template_id: int) -> InFlightExport | None:
        """The export of a template recorded as started but not landed, if any.

        An unreadable record is ignored with a warning: the worst it costs is one new export.
        """
        path = self.template_dir(project_key, template_id) / IN_FLIGHT
        try:
            record = InFlightExport.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            logger.warning("Ignoring the unreadable in-flight record %s: %s", path, exc)
            return None

        if (record.project_key, record.template_id) != (project_key, template_id):
            logger.warning(
                "Ignoring the in-flight record %s: it names %s template %d, expected %s "
                "template %d.",
                path,
                record.project_key,
                record.template_id,
                project_key,
                template_id,
            )
            return None
        return record

    def clear_in_flight(self, project_key: str, template_id: int, export_id: str) -> None:
        """Remove the in-flight record of a template if it names `export_id`."""
        record = self.in_flight(project_key, template_id)
        if record is None or record.export_id != export_id:
            return
        path = self.template_dir(project_key, template_id) / IN_FLIGHT
        with _writing(path.parent, f"the in-flight record of export {export_id}"):
            path.unlink(missing_ok=True)
        fsync_dir(path.parent)

    def latest(self, project_key: str, template_id: int) -> LandedExport:
        """The newest landed export of a template, checked against its file's size and sha256."""
        latest_path = self.template_dir(project_key, template_id) / LATEST
        if not latest_path.is_file():
            raise LandingError(
                f"no export of {project_key} template {template_id} has landed: "
                f"{latest_path} does not exist"
            )

        landed = self.read_manifest(latest_path)
        if (landed.project_key, landed.template_id) != (project_key, template_id):
            raise LandingError(
                f"{latest_path} records {landed.project_key} template {landed.template_id}, "
                f"expected {project_key} template {template_id}"
            )
        return landed

    def all(self, project_key: str) -> list[LandedExport]:
        """The latest landed export of each template of a project, by template id."""
        project_dir = self.root / _segment(project_key, "project key")
        if not project_dir.is_dir():
            return []
        template_ids = sorted(
            int(child.name)
            for child in project_dir.iterdir()
            if child.name.isdigit() and (child / LATEST).is_file()
        )
        return [self.latest(project_key, template_id) for template_id in template_ids]

    def read_manifest(self, manifest_path: Path) -> LandedExport:
        """Read a manifest (or latest.json) and check that its file is whole.

        The file's path is rebuilt under this root from the recorded project, template, export
        id and file name, so a landing directory can be moved or mounted elsewhere.
        """
        try:
            landed = LandedExport.model_validate_json(manifest_path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise LandingError(f"{manifest_path} is not a readable export manifest: {exc}") from exc

        folder = self.template_dir(landed.project_key, landed.template_id)
        path = folder / _segment(landed.export_id, "export id") / landed.file_name
        self._check_inside(path)
        _verify(path, landed)
        return landed.model_copy(update={"path": path})

    def _check_inside(self, path: Path) -> None:
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise LandingError(f"{path} lies outside the landing directory {self.root}")


def safe_file_name(name: str | None, export_id: str, export_format: ExportFormat) -> str:
    """The server's file name reduced to one harmless path segment, else `<export_id>.<ext>`."""
    fallback = f"{_segment(export_id, 'export id')}.{export_format}"
    if not name:
        return fallback

    last = re.split(r"[/\\]", name)[-1]
    cleaned = "".join(
        char if char.isalnum() or char in "._-+ ()," else "_"
        for char in unicodedata.normalize("NFC", last)
    )
    cleaned = cleaned.strip().lstrip(".")[:MAX_NAME_LENGTH]
    if not cleaned or cleaned in (MANIFEST, LATEST):
        return fallback
    return cleaned


def _label(export: CompletedExport) -> str:
    return f"{export.project_key} template {export.template_id}"


@contextlib.contextmanager
def _writing(folder: Path, what: str) -> Iterator[None]:
    """Raise an `OSError` of the block as a `LandingError` naming `folder` and `what`."""
    try:
        yield
    except OSError as exc:
        raise LandingError(
            f"cannot write {what} to {folder}: {exc}; check that `paths.landing` in the "
            "configuration names a folder this process can create and write"
        ) from exc


def _segment(value: str, what: str) -> str:
    """A project key or export id used as a folder name, refused when it could escape."""
    if not _SAFE_SEGMENT.fullmatch(value) or ".." in value:
        raise LandingError(
            f"{what} {value!r} cannot name a landing folder: expected letters, digits, "
            "'_', '-' and '.'"
        )
    return value


def _write_atomically(
    target: Path, write: Callable[[BinaryIO], int], export: CompletedExport
) -> tuple[str, int]:
    """Stream into a temporary sibling of `target`, fsync it and rename it into place.

    An `OSError` of the landing folder is raised as `LandingError`; what `write` raises itself
    (a broken download) passes through unchanged.
    """
    what = f"export {export.export_id} of {_label(export)}"
    with _writing(target.parent, what):
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            hashing = _HashingWriter(handle, lambda: _writing(target.parent, what))
            reported = write(cast(BinaryIO, hashing))
            with _writing(target.parent, what):
                handle.flush()
                os.fsync(handle.fileno())
        if reported != hashing.size:
            raise LandingError(
                f"export {export.export_id} of {export.project_key} template "
                f"{export.template_id}: the download reported {reported} bytes but "
                f"{hashing.size} reached {temp_path}"
            )
        with _writing(target.parent, what):
            os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise

    fsync_dir(target.parent)
    return hashing.hexdigest(), hashing.size


def _verify(path: Path, landed: LandedExport) -> None:
    label = f"export {landed.export_id} of {landed.project_key} template {landed.template_id}"
    if not path.is_file():
        raise LandingError(f"{path} is missing: the manifest of {label} records it")
    size = path.stat().st_size
    if size != landed.size_bytes:
        raise LandingError(
            f"{path} of {label} has {size} bytes, the manifest records {landed.size_bytes}"
        )
    sha256 = _sha256(path)
    if sha256 != landed.sha256:
        raise LandingError(
            f"{path} of {label} has sha256 {sha256}, the manifest records {landed.sha256}"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _HashingWriter(io.RawIOBase):
    """A write-only stream that passes bytes to a file while counting and hashing them;
    `guard` wraps each write to the file (turning its `OSError` into `LandingError`)."""

    def __init__(
        self, target: BinaryIO, guard: Callable[[], contextlib.AbstractContextManager[None]]
    ) -> None:
        super().__init__()
        self._target = target
        self._guard = guard
        self._digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        with self._guard():
            self._target.write(data)
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
