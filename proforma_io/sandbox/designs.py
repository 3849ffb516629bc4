"""The form designs of the generated templates, as ProForma stores them.

HR template 3 matches the field sample `hr-onboarding.responses.json`, ITSD template 11 matches
`itsd-newer-shapes.responses.json` and OPS template 7 matches `ops-legacy-v1.responses.json`;
OPS template 8 is a version 2 change request. Each template also has an older design that
lacks the questions added later, as form instances added before a change keep.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HR_ONBOARDING = 3
INCIDENT_INTAKE = 11
ACCESS_REQUEST = 7
CHANGE_REQUEST = 8

LEGACY_SCHEMA_VERSION = 5


def choices(*labels: str, other: bool = False) -> list[dict[str, Any]]:
    """Choices numbered from "1"; the Other choice is always "0"."""
    listed: list[dict[str, Any]] = [
        {"id": str(number), "label": label} for number, label in enumerate(labels, start=1)
    ]
    if other:
        listed.append({"id": "0", "label": "Other", "other": True})
    return listed


def question(
    code: str,
    label: str,
    *,
    validation: dict[str, Any] | None = None,
    listed: list[dict[str, Any]] | None = None,
    key: str | None = None,
    jira_field: str | None = None,
) -> dict[str, Any]:
    """One version 2 question definition."""
    definition: dict[str, Any] = {"type": code, "label": label, "validation": validation or {}}
    if key is not None:
        definition["questionKey"] = key
    if listed is not None:
        definition["choices"] = listed
    if jira_field is not None:
        definition["jiraField"] = jira_field
    return definition


def v2_design(
    template_id: int, name: str, questions: dict[str, dict[str, Any]], *, lock: bool = False
) -> dict[str, Any]:
    """A version 2 design whose layout shows the questions in the order given.

    `lock` is the submit setting that locks a form when it is submitted.
    """
    content = [
        {
            "type": "extension",
            "attrs": {
                "extensionType": "com.thinktilt.proforma",
                "extensionKey": "question",
                "parameters": {"id": question_id},
            },
        }
        for question_id in questions
    ]
    return {
        "settings": {
            "templateId": template_id,
            "name": name,
            "submit": {"lock": lock, "pdf": False},
        },
        "layout": [{"version": 1, "type": "doc", "content": content}],
        "conditions": {},
        "sections": {},
        "questions": questions,
    }


def hr_onboarding(later_questions: bool = True) -> dict[str, Any]:
    """ "New starter onboarding": every question type; the older design stops at question 13."""
    questions = {
        "1": question("ts", "Employee name", validation={"rq": True}, key="employee_name"),
        "2": question("te", "Work email", validation={"rq": True}),
        "3": question("da", "Start date", validation={"rq": True}, key="start_date"),
        "4": question(
            "cd", "Department", listed=choices("Engineering", "Finance", "People & Culture")
        ),
        "5": question(
            "cm",
            "Equipment needed",
            listed=choices("Laptop", "Monitor", "Headset", other=True),
        ),
        "6": question("no", "Desk number", validation={"wh": True}),
        "7": question(
            "cs",
            "Contract type",
            validation={"rq": True},
            listed=choices("Permanent", "Fixed term", "Contractor"),
        ),
        "8": question("us", "Line manager"),
        "9": question("um", "Buddies"),
        "10": question("dt", "Induction session"),
        "11": question("ti", "Daily start time"),
        "12": question("tu", "Profile link"),
        "13": question("pg", "Notes for IT"),
    }
    if later_questions:
        questions["14"] = question(
            "cl",
            "Software access",
            listed=choices("Jira", "Confluence", "Salesforce, read-only", "Payroll"),
        )
        questions["15"] = question(
            "tl", "Accessibility requirements", jira_field="customfield_10040"
        )
    return v2_design(HR_ONBOARDING, "New starter onboarding", questions)


def incident_intake(asset_tag: bool = True) -> dict[str, Any]:
    """ "Incident intake": rich-text paragraphs and a blank-labelled `asset_tag` question."""
    questions = {
        "1": question("pg", "Describe the problem"),
        "2": question("no", "Affected users"),
        "3": question("cs", "Severity", listed=choices("Sev 1", "Sev 2")),
        "4": question("us", "Reporter"),
    }
    if asset_tag:
        questions["5"] = question("ts", "", key="asset_tag")
    return v2_design(INCIDENT_INTAKE, "Incident intake", questions)


def change_request(review_date: bool = True) -> dict[str, Any]:
    """ "Change request", locked when submitted; the older design has no review date."""
    questions = {
        "1": question("ts", "Change title", validation={"rq": True}, jira_field="summary"),
        "2": question(
            "cs", "Risk level", validation={"rq": True}, listed=choices("Low", "Medium", "High")
        ),
        "3": question(
            "cm",
            "Systems affected",
            listed=choices("Billing", "VPN", "Data warehouse", "Payroll", other=True),
        ),
        "4": question("dt", "Planned start"),
        "5": question("no", "Expected downtime (minutes)"),
        "6": question("um", "Approvers"),
        "7": question("pg", "Rollback plan"),
        "8": question("tu", "Runbook link"),
        "9": question("cd", "Environment", listed=choices("Production", "Staging", "Test")),
    }
    if review_date:
        questions["10"] = question("da", "Post-change review")
    return v2_design(CHANGE_REQUEST, "Change request", questions, lock=True)


def access_request_v1() -> list[dict[str, Any]]:
    """The legacy "Access request" questions, without answers."""
    return [
        {"id": 1, "t": "h1", "q": "Access request"},
        {"id": 2, "t": "ts", "q": "System", "v": {"rq": True}},
        {"id": 3, "t": "tl", "q": "Business reason", "v": {"mnw": 3}, "jf": "summary"},
        {"id": 4, "t": "pg", "q": "Anything else?", "v": {}, "jf": "description"},
        {"id": 5, "t": "in", "q": "Requests are reviewed every Tuesday."},
    ]


def legacy_form_hash(questions: list[dict[str, Any]]) -> str:
    """A stable hash of a legacy design, as the `formHash` of its instances."""
    text = json.dumps(questions, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
