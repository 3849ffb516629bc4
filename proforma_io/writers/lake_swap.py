"""A project's new partitions swapped into the lake as one write, or not at all.

The writer holds the project's lock file (`_projects/.<PROJECT>.lock`) for the whole write. Once
every table is staged it records a journal (`_staging/<PROJECT>.swap.json`): the write's id,
its staging folder, and which tables and wide-table registries had an earlier version. Each
old partition and registry is moved or copied aside into the staging folder, kept, and the new
one put in place. Rewriting the project's manifest with the write's id commits the write;
then the journal and the staging folder go.

A write that stops half-way, by an error or because its process was killed, is rolled back:
at once on an error, else by the next writer or reader of the project, which finds the journal
of an uncommitted write and puts every old partition and registry back.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from proforma_io.atomic_files import fsync_dir, replace_text
from proforma_io.errors import LakeError

log = logging.getLogger(__name__)

STAGING_DIR = "_staging"
JOURNAL_SUFFIX = ".swap.json"
ASIDE_SUFFIX = ".previous"
REGISTRY_PREFIX = "registry."


@dataclass
class Swap:
    """One write's journal: `tables` maps a table to its partition folder (relative to the
    lake) and whether it had one before; `registries` does the same for registry files."""

    root: Path
    project: str
    staging: str
    write_id: str
    tables: dict[str, tuple[str, bool]] = field(default_factory=dict)
    registries: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def begin(cls, root: Path, project: str, staging: Path, targets: dict[str, Path]) -> Swap:
        """Record, durably, the tables about to be swapped in from `staging`."""
        swap = cls(root, project, staging.name, uuid.uuid4().hex)
        swap.tables = {
            name: (str(target.relative_to(root)), target.exists())
            for name, target in targets.items()
        }
        swap._save()
        return swap

    @property
    def staging_dir(self) -> Path:
        return self.root / STAGING_DIR / self.staging

    def swap_in(self, name: str) -> Path:
        """Move the table's old partition aside (kept until the end) and its new one in."""
        target = self.root / self.tables[name][0]
        staged, aside = self.staging_dir / name, self.staging_dir / f"{name}{ASIDE_SUFFIX}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if target.exists():
                target.rename(aside)
            staged.rename(target)
        except OSError as exc:
            raise LakeError(
                f"project {self.project}: could not move the new partition of {name} into "
                f"{target}: {exc}"
            ) from exc
        return target

    def keep_registry(self, registry: Path) -> None:
        """Copy a wide table's registry aside before it is rewritten."""
        existed = registry.exists()
        if existed:
            shutil.copy2(registry, self.staging_dir / f"{REGISTRY_PREFIX}{registry.name}")
        self.registries[str(registry.relative_to(self.root))] = existed
        self._save()

    def finish(self) -> None:
        """Forget the journal and what was kept aside: the write is committed."""
        _journal(self.root, self.project).unlink(missing_ok=True)
        fsync_dir(self.root / STAGING_DIR)
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def roll_back(self) -> int:
        """Put back every old partition and registry; return how many tables were restored."""
        restored = sum(self._restore_table(name) for name in self.tables)
        for relative, existed in self.registries.items():
            kept = self.staging_dir / f"{REGISTRY_PREFIX}{Path(relative).name}"
            if existed and kept.exists():
                os.replace(kept, self.root / relative)
            elif not existed:
                (self.root / relative).unlink(missing_ok=True)
        self.finish()
        return restored

    def _restore_table(self, name: str) -> bool:
        relative, had_previous = self.tables[name]
        target = self.root / relative
        staged, aside = self.staging_dir / name, self.staging_dir / f"{name}{ASIDE_SUFFIX}"
        if aside.exists():
            shutil.rmtree(target, ignore_errors=True)
            aside.rename(target)
            return True
        if not had_previous and not staged.exists() and target.exists():
            shutil.rmtree(target)
            return True
        return False

    def _save(self) -> None:
        body = asdict(self)
        body.pop("root")
        replace_text(_journal(self.root, self.project), json.dumps(body, indent=2))


@contextlib.contextmanager
def project_lock(lock_file: Path) -> Iterator[None]:
    """Hold a project's lock file: one writer (or recovering reader) of a project at a time.

    The operating system releases it when its process ends, killed or not.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def needs_recovery(root: Path, project: str) -> bool:
    """Whether a write of the project left its journal behind."""
    return _journal(root, project).exists()


def recover(root: Path, project: str, manifest: Path) -> None:
    """Finish or undo the project's interrupted write, and sweep its stale staging folders.

    Call it holding the project's lock. A write whose id the manifest records had committed;
    any other is rolled back.
    """
    swap = _read_journal(root, project)
    if swap is not None and _committed_write(manifest) == swap.write_id:
        swap.finish()
        log.info("Project %s: finished cleaning up after write %s.", project, swap.write_id)
    elif swap is not None:
        restored = swap.roll_back()
        log.warning(
            "Project %s: rolled back write %s, which stopped half-way; %d tables are back to "
            "their previous partitions.",
            project,
            swap.write_id,
            restored,
        )

    staging = root / STAGING_DIR
    for stale in staging.glob(f"{project}-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _read_journal(root: Path, project: str) -> Swap | None:
    path = _journal(root, project)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return Swap(
            root=root,
            project=body["project"],
            staging=body["staging"],
            write_id=body["write_id"],
            tables={name: (where, bool(had)) for name, (where, had) in body["tables"].items()},
            registries={name: bool(had) for name, had in body["registries"].items()},
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LakeError(
            f"project {project}: the journal {path} of an interrupted write is unreadable "
            f"({exc}); compare the project's partitions with its manifest before deleting it"
        ) from exc


def _committed_write(manifest: Path) -> str | None:
    try:
        value = json.loads(manifest.read_text(encoding="utf-8")).get("write_id")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _journal(root: Path, project: str) -> Path:
    return root / STAGING_DIR / f"{project}{JOURNAL_SUFFIX}"
