"""Asset checks per project partition, evaluated inside the assets they check.

Checks on `lake_tables` run before the warehouse is touched: the blocking ones stop
`warehouse_tables` from loading bad data that dashboards would show. docs/operations.md says
what each check means and what to do when it fails.
"""

from dataclasses import dataclass

import dagster as dg

from proforma_io.quality import CheckOutcome


@dataclass(frozen=True)
class Check:
    """One check: its name, what it guards, and how a failure counts."""

    name: str
    description: str
    blocking: bool
    severity: dg.AssetCheckSeverity


NOT_EMPTIED = Check(
    "export_not_emptied",
    "Every template with responses in the warehouse still has responses in the new export.",
    blocking=True,
    severity=dg.AssetCheckSeverity.ERROR,
)
UNIQUE_ISSUE_FORM = Check(
    "unique_issue_form",
    "No (issue, form) pair appears twice within a template.",
    blocking=True,
    severity=dg.AssetCheckSeverity.ERROR,
)
STATUS_PRESENT = Check(
    "status_present",
    "Every response has a status of open, submitted or locked.",
    blocking=True,
    severity=dg.AssetCheckSeverity.ERROR,
)
SCHEMA_CHANGES = Check(
    "schema_changes",
    "Wide tables or columns added, removed or retyped since the previous lake write "
    "(a warning: new questions are expected).",
    blocking=False,
    severity=dg.AssetCheckSeverity.WARN,
)
QUARANTINED_VALUES = Check(
    "quarantined_values",
    "Answers to number, date or time questions that could not be read and are kept as text "
    "(a warning, with a count per question).",
    blocking=False,
    severity=dg.AssetCheckSeverity.WARN,
)
COUNTS_MATCH_LAKE = Check(
    "counts_match_lake",
    "The warehouse holds as many rows of the project as the lake, in every table.",
    blocking=False,
    severity=dg.AssetCheckSeverity.ERROR,
)

LAKE_CHECKS = (NOT_EMPTIED, UNIQUE_ISSUE_FORM, STATUS_PRESENT, SCHEMA_CHANGES, QUARANTINED_VALUES)
WAREHOUSE_CHECKS = (COUNTS_MATCH_LAKE,)


def check_specs(
    asset: str, checks: tuple[Check, ...], partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """The specs of `checks` on `asset`, partitioned like it."""
    return [
        dg.AssetCheckSpec(
            check.name,
            asset=asset,
            description=check.description,
            blocking=check.blocking,
            partitions_def=partitions,
        )
        for check in checks
    ]


def check_result(check: Check, outcome: CheckOutcome) -> dg.AssetCheckResult:
    """The result of `check`, its numbers and examples as metadata."""
    metadata: dict[str, object] = {key: value for key, value in outcome.counts.items()}
    if outcome.examples:
        metadata["examples"] = dg.MetadataValue.md(
            "\n".join(f"- {example}" for example in outcome.examples)
        )
    return dg.AssetCheckResult(
        check_name=check.name,
        passed=outcome.passed,
        severity=check.severity,
        description=outcome.summary,
        metadata=metadata,
    )
