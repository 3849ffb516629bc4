"""Data-quality checks on a project's normalised tables, run before they reach the warehouse.

Each check returns a `CheckOutcome`: whether it passed, a sentence saying what it found, the
numbers behind it and a few examples. The Dagster code location turns them into asset checks;
docs/operations.md says what each means and what to do when it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from proforma_io.forms import DATE_TYPES, DATETIME_TYPES, NUMBER_TYPES, TIME_TYPES
from proforma_io.tables import ProjectTables

STATUSES = frozenset({"open", "submitted", "locked"})
EXAMPLES = 5

# The typed column each question type fills; a value left in `value_text` alone is quarantined.
TYPED_COLUMNS = {
    **dict.fromkeys(NUMBER_TYPES, "value_number"),
    **dict.fromkeys(DATE_TYPES, "value_date"),
    **dict.fromkeys(TIME_TYPES, "value_time"),
    **dict.fromkeys(DATETIME_TYPES, "value_datetime"),
}

Columns = dict[str, str]


@dataclass(frozen=True)
class CheckOutcome:
    """What a check found: `counts` are the numbers behind `summary`, `examples` a few keys."""

    passed: bool
    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


def responses_per_template(tables: ProjectTables) -> dict[int, int]:
    """Form responses of each template in the project's tables."""
    responses = tables.core["responses"]
    counts = responses.groupby("template_id").size()
    return {int(template): int(rows) for template, rows in counts.items()}


def exports_not_emptied(
    tables: ProjectTables, templates: list[int], loaded: Mapping[int, int]
) -> CheckOutcome:
    """Every template that has responses in the warehouse still has some in the new export."""
    project = tables.project_key
    now = responses_per_template(tables)
    emptied = [t for t in templates if loaded.get(t, 0) > 0 and now.get(t, 0) == 0]
    counts = {f"template {t}": now.get(t, 0) for t in templates}
    if emptied:
        was = ", ".join(f"template {t} had {loaded[t]}" for t in emptied)
        return CheckOutcome(
            False,
            f"Project {project}: the new export has no responses where the warehouse has some "
            f"({was}); the warehouse keeps its rows until this is explained.",
            counts,
            [f"template {t}" for t in emptied],
        )
    return CheckOutcome(
        True, f"Project {project}: every template that had responses still has some.", counts
    )


def unique_issue_forms(tables: ProjectTables) -> CheckOutcome:
    """No (issue, form) appears twice within a template."""
    project = tables.project_key
    responses = tables.core["responses"]
    form = responses["form_id"].astype("Int64").astype("string")
    key = pd.DataFrame(
        {
            "template_id": responses["template_id"],
            "issue_key": responses["issue_key"],
            "form": form.fillna(responses["response_id"].astype("string")),
        }
    )
    repeated = key[key.duplicated(keep=False)].drop_duplicates()
    examples = [
        f"template {row.template_id}: {row.issue_key} form {row.form}"
        for row in repeated.head(EXAMPLES).itertuples()
    ]
    counts = {"responses": len(responses), "repeated_keys": len(repeated)}
    if len(repeated):
        return CheckOutcome(
            False,
            f"Project {project}: {len(repeated)} (issue, form) pairs appear more than once "
            f"within a template, e.g. {examples[0]}.",
            counts,
            examples,
        )
    return CheckOutcome(
        True, f"Project {project}: all {len(responses)} responses are unique per template.", counts
    )


def statuses_present(tables: ProjectTables) -> CheckOutcome:
    """Every response has a status of open, submitted or locked."""
    project = tables.project_key
    responses = tables.core["responses"]
    bad = responses[~responses["status"].isin(STATUSES)]
    examples = [
        f"{row.response_id}: " + ("no status" if pd.isna(row.status) else repr(row.status))
        for row in bad[["response_id", "status"]].head(EXAMPLES).itertuples()
    ]
    counts = {"responses": len(responses), "without_status": len(bad)}
    if len(bad):
        return CheckOutcome(
            False,
            f"Project {project}: {len(bad)} of {len(responses)} responses have no status of "
            f"open, submitted or locked, e.g. {examples[0]}.",
            counts,
            examples,
        )
    return CheckOutcome(
        True, f"Project {project}: all {len(responses)} responses have a status.", counts
    )


def quarantined_values(tables: ProjectTables) -> CheckOutcome:
    """Values of number, date and time questions kept as text because they could not be read,
    and the other values the normaliser set aside (the lake's `quarantine` table)."""
    project = tables.project_key
    answers = tables.core["answers"]
    kept = pd.Series(False, index=answers.index)
    for question_type, column in TYPED_COLUMNS.items():
        of_type = answers["question_type"] == question_type
        has_text = answers["value_text"].fillna("").str.strip() != ""
        kept |= of_type & answers[column].isna() & has_text
    quarantined = answers[kept]
    # Unreadable answers are counted above, from the answers themselves.
    recorded = tables.quarantine
    others = recorded[(recorded["kind"] != "unreadable") | recorded["response_id"].isna()]

    per_question = quarantined.groupby(["template_id", "question_label"], dropna=False).size()
    counts = {f"template {t}: {label}": int(n) for (t, label), n in per_question.items()}
    counts.update({str(kind): int(n) for kind, n in others.groupby("kind").size().items()})
    examples = [
        f"{row.response_id} {row.question_label}: {row.value_text!r}"
        for row in quarantined.head(EXAMPLES).itertuples()
    ]
    examples += [f"{row.place}: {row.reason}" for row in others.head(EXAMPLES).itertuples()]
    problems = []
    if len(quarantined):
        problems.append(
            f"{len(quarantined)} answers to number, date or time questions could not be read "
            "and are kept as text in answers.value_text"
        )
    if len(others):
        problems.append(
            f"{len(others)} other values were set aside (texts cut, unknown question types, "
            "answers to questions missing from their form, Jira fields that are not finite "
            "numbers) and recorded in the quarantine table"
        )
    if problems:
        return CheckOutcome(
            False,
            f"Project {project}: " + "; ".join(problems) + f", e.g. {examples[0]}.",
            counts,
            examples,
        )
    return CheckOutcome(True, f"Project {project}: every typed answer was read.", counts)


def schema_changes(current: Mapping[str, Columns], previous: Mapping[str, Columns]) -> CheckOutcome:
    """Wide tables and columns added, removed or retyped since the previous write."""
    changes: list[str] = []
    for table in sorted(set(current) | set(previous)):
        if table not in previous:
            changes.append(f"{table}: new table with {len(current[table])} columns")
            continue
        if table not in current:
            changes.append(f"{table}: no longer written")
            continue
        changes.extend(_column_changes(table, current[table], previous[table]))

    counts = {"changes": len(changes), "wide_tables": len(current)}
    if not previous:
        return CheckOutcome(True, "No previous write to compare the wide tables with.", counts)
    if changes:
        return CheckOutcome(
            False,
            f"{len(changes)} schema changes since the previous write: " + "; ".join(changes),
            counts,
            changes,
        )
    return CheckOutcome(True, "The wide tables have the columns and types they had.", counts)


def counts_agree(lake: Mapping[str, int], warehouse: Mapping[str, int]) -> CheckOutcome:
    """The lake and the warehouse hold the same rows of the project in every table."""
    tables = sorted(set(lake) | set(warehouse))
    differ = [t for t in tables if lake.get(t) != warehouse.get(t)]
    counts = {f"{t} (lake)": lake.get(t, 0) for t in tables}
    counts.update({f"{t} (warehouse)": warehouse.get(t, 0) for t in tables})
    if differ:
        described = [f"{t}: {lake.get(t, 'none')} vs {warehouse.get(t, 'none')}" for t in differ]
        return CheckOutcome(
            False,
            "Lake and warehouse row counts differ (lake vs warehouse): " + "; ".join(described),
            counts,
            described,
        )
    total = sum(lake.values())
    return CheckOutcome(
        True, f"Lake and warehouse agree: {total} rows in {len(tables)} tables.", counts
    )


def _column_changes(table: str, current: Columns, previous: Columns) -> list[str]:
    added = [f"{table}.{c} added ({current[c]})" for c in current if c not in previous]
    removed = [f"{table}.{c} removed" for c in previous if c not in current]
    retyped = [
        f"{table}.{c} changed from {previous[c]} to {current[c]}"
        for c in current
        if c in previous and current[c] != previous[c]
    ]
    return added + removed + retyped
