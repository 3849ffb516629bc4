-- Version 1: the core tables of the warehouse, with the columns of proforma_io/schema.py in the
-- same order, plus the load log and the registry of wide tables. Wide tables themselves are
-- created by the loader from their frames.
--
-- Conventions of every file in this folder: NNN_name.sql with NNN below 100 is a migration,
-- applied once and recorded in schema_version (a released migration never changes: add the next
-- number instead); files from 100 on are re-run by every ensure_schema and each statement in them
-- is safe to run twice. A statement ends with a semicolon at the end of a line; comments stand on
-- lines of their own.
--
-- Time stamps carry no zone. updated_at, loaded_at, started_at and finished_at hold UTC;
-- answers.value_datetime holds the date and time as the form shows them, zone unknown.

CREATE TABLE IF NOT EXISTS responses (
    project_key TEXT NOT NULL,
    template_id BIGINT NOT NULL,
    response_id TEXT NOT NULL,
    issue_key TEXT NOT NULL,
    issue_id TEXT,
    form_id BIGINT,
    form_name TEXT,
    form_model TEXT,
    status TEXT,
    visibility TEXT,
    updated_at TIMESTAMP,
    export_id TEXT,
    source_format TEXT,
    loaded_at TIMESTAMP
);

CREATE INDEX IF NOT EXISTS responses_project_key_idx ON responses (project_key);

CREATE TABLE IF NOT EXISTS answers (
    project_key TEXT NOT NULL,
    template_id BIGINT NOT NULL,
    response_id TEXT NOT NULL,
    issue_key TEXT NOT NULL,
    form_id BIGINT,
    question_id TEXT NOT NULL,
    question_key TEXT,
    question_label TEXT,
    question_type TEXT,
    value_index BIGINT,
    value_text TEXT,
    value_number DOUBLE PRECISION,
    value_date DATE,
    value_time TIME,
    value_datetime TIMESTAMP,
    choice_id TEXT,
    choice_label TEXT,
    user_id TEXT,
    user_name TEXT,
    export_id TEXT
);

CREATE INDEX IF NOT EXISTS answers_project_key_idx ON answers (project_key);

CREATE TABLE IF NOT EXISTS jira_fields (
    project_key TEXT NOT NULL,
    template_id BIGINT NOT NULL,
    issue_key TEXT NOT NULL,
    issue_id TEXT,
    field_id TEXT NOT NULL,
    field_name TEXT,
    value_text TEXT,
    value_number DOUBLE PRECISION,
    value_json TEXT,
    export_id TEXT
);

CREATE INDEX IF NOT EXISTS jira_fields_project_key_idx ON jira_fields (project_key);

CREATE TABLE IF NOT EXISTS questions (
    project_key TEXT NOT NULL,
    template_id BIGINT NOT NULL,
    question_id TEXT NOT NULL,
    question_key TEXT,
    label TEXT,
    question_type TEXT,
    position BIGINT,
    jira_field TEXT,
    wide_table TEXT,
    wide_column TEXT,
    export_id TEXT
);

CREATE INDEX IF NOT EXISTS questions_project_key_idx ON questions (project_key);

-- One row per warehouse load attempt, successful or failed; an export or lake write that fails
-- before the warehouse step leaves no row (its failure is in the Dagster run). export_ids is a
-- JSON list; row_counts a JSON object of rows per table, loaded or, when outcome is 'failed',
-- attempted; error holds the reason of a failure.
CREATE TABLE IF NOT EXISTS load_log (
    run_id TEXT NOT NULL,
    project_key TEXT NOT NULL,
    export_ids TEXT,
    row_counts TEXT,
    rows_total BIGINT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    seconds DOUBLE PRECISION,
    outcome TEXT NOT NULL,
    error TEXT
);

CREATE INDEX IF NOT EXISTS load_log_project_key_idx ON load_log (project_key);

-- The wide tables holding each project's rows, and the template they come from.
CREATE TABLE IF NOT EXISTS wide_tables (
    table_name TEXT NOT NULL,
    project_key TEXT NOT NULL,
    template_id BIGINT,
    loaded_at TIMESTAMP,
    PRIMARY KEY (table_name, project_key)
);
