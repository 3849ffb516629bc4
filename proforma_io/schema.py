"""The canonical tables: their names, columns and types, shared by the normaliser and writers.

These are the tables dashboards read, so their shape is a contract: add columns, never rename or
retype them. Wide tables (one per template) are built per export and are not listed here.
"""

from __future__ import annotations

import pyarrow as pa

RESPONSES = "responses"
ANSWERS = "answers"
JIRA_FIELDS = "jira_fields"
QUESTIONS = "questions"

CORE_TABLES = (RESPONSES, ANSWERS, JIRA_FIELDS, QUESTIONS)
# Values set aside while normalising (see `quarantine`); a lake table, not loaded into SQL.
QUARANTINE = "quarantine"

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
LOCAL_TIMESTAMP = pa.timestamp("us")

RESPONSES_SCHEMA = pa.schema(
    [
        ("project_key", pa.string()),
        ("template_id", pa.int64()),
        ("response_id", pa.string()),
        ("issue_key", pa.string()),
        ("issue_id", pa.string()),
        ("form_id", pa.int64()),
        ("form_name", pa.string()),
        ("form_model", pa.string()),
        ("status", pa.string()),
        ("visibility", pa.string()),
        ("updated_at", UTC_TIMESTAMP),
        ("export_id", pa.string()),
        ("source_format", pa.string()),
        ("loaded_at", UTC_TIMESTAMP),
    ]
)

ANSWERS_SCHEMA = pa.schema(
    [
        ("project_key", pa.string()),
        ("template_id", pa.int64()),
        ("response_id", pa.string()),
        ("issue_key", pa.string()),
        ("form_id", pa.int64()),
        ("question_id", pa.string()),
        ("question_key", pa.string()),
        ("question_label", pa.string()),
        ("question_type", pa.string()),
        ("value_index", pa.int64()),
        ("value_text", pa.string()),
        ("value_number", pa.float64()),
        ("value_date", pa.date32()),
        ("value_time", pa.time64("us")),
        ("value_datetime", LOCAL_TIMESTAMP),
        ("choice_id", pa.string()),
        ("choice_label", pa.string()),
        ("user_id", pa.string()),
        ("user_name", pa.string()),
        ("export_id", pa.string()),
    ]
)

JIRA_FIELDS_SCHEMA = pa.schema(
    [
        ("project_key", pa.string()),
        ("template_id", pa.int64()),
        ("issue_key", pa.string()),
        ("issue_id", pa.string()),
        ("field_id", pa.string()),
        ("field_name", pa.string()),
        ("value_text", pa.string()),
        ("value_number", pa.float64()),
        ("value_json", pa.string()),
        ("export_id", pa.string()),
    ]
)

QUESTIONS_SCHEMA = pa.schema(
    [
        ("project_key", pa.string()),
        ("template_id", pa.int64()),
        ("question_id", pa.string()),
        ("question_key", pa.string()),
        ("label", pa.string()),
        ("question_type", pa.string()),
        ("position", pa.int64()),
        ("jira_field", pa.string()),
        ("wide_table", pa.string()),
        ("wide_column", pa.string()),
        ("export_id", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("project_key", pa.string()),
        ("template_id", pa.int64()),
        ("export_id", pa.string()),
        ("file", pa.string()),
        ("place", pa.string()),
        ("response_id", pa.string()),
        ("question_id", pa.string()),
        ("kind", pa.string()),
        ("reason", pa.string()),
        ("value", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    RESPONSES: RESPONSES_SCHEMA,
    ANSWERS: ANSWERS_SCHEMA,
    JIRA_FIELDS: JIRA_FIELDS_SCHEMA,
    QUESTIONS: QUESTIONS_SCHEMA,
    QUARANTINE: QUARANTINE_SCHEMA,
}

# Columns every wide table starts with, before one column per question.
WIDE_KEY_SCHEMA = pa.schema(
    [
        ("project_key", pa.string()),
        ("template_id", pa.int64()),
        ("response_id", pa.string()),
        ("issue_key", pa.string()),
        ("issue_id", pa.string()),
        ("form_id", pa.int64()),
        ("status", pa.string()),
        ("visibility", pa.string()),
        ("updated_at", UTC_TIMESTAMP),
        ("export_id", pa.string()),
    ]
)
