-- Views for dashboards, written in the SQL that SQLite and PostgreSQL 15 share. Each is dropped
-- and created again, as SQLite has no CREATE OR REPLACE VIEW.
-- Limitation: on PostgreSQL a view of your own built on one of these blocks the DROP; build
-- dashboards' own views on the tables instead, or drop them before the schema is ensured.

-- The newest form response of each issue and template: the latest update first, forms never
-- updated last, then the highest form id. forms_on_issue counts the issue's forms of the template.
DROP VIEW IF EXISTS v_responses_current;
CREATE VIEW v_responses_current AS
SELECT
    project_key,
    template_id,
    issue_key,
    issue_id,
    response_id,
    form_id,
    form_name,
    form_model,
    status,
    visibility,
    updated_at,
    export_id,
    loaded_at,
    forms_on_issue
FROM (
    SELECT
        responses.*,
        ROW_NUMBER() OVER (
            PARTITION BY project_key, template_id, issue_key
            ORDER BY
                CASE WHEN updated_at IS NULL THEN 1 ELSE 0 END,
                updated_at DESC,
                COALESCE(form_id, 0) DESC,
                response_id DESC
        ) AS recency,
        COUNT(*) OVER (PARTITION BY project_key, template_id, issue_key) AS forms_on_issue
    FROM responses
) ranked
WHERE recency = 1;

-- Form responses by status per project and UTC day of their last update (day is null for forms
-- whose update time is unknown). DATE() is a function in SQLite and a cast in PostgreSQL.
DROP VIEW IF EXISTS v_status_counts_daily;
CREATE VIEW v_status_counts_daily AS
SELECT
    project_key,
    DATE(updated_at) AS day,
    status,
    COUNT(*) AS responses
FROM responses
GROUP BY project_key, DATE(updated_at), status;

-- How many form responses answered each question, and in how many answer rows, per project and
-- template. A question is known by its identity (its question key, else its id), as wide
-- columns are; label, type and wide column are the current ones from the questions table (null
-- label: the question is in no design of the latest export, so the greatest label answers gave
-- is shown).
DROP VIEW IF EXISTS v_choice_counts;
DROP VIEW IF EXISTS v_question_answers;
CREATE VIEW v_question_answers AS
SELECT
    counted.project_key,
    counted.template_id,
    counted.identity,
    counted.question_ids,
    COALESCE(current_questions.label, counted.answered_label) AS question_label,
    current_questions.question_type,
    current_questions.wide_table,
    current_questions.wide_column,
    counted.responses,
    counted.answer_rows
FROM (
    SELECT
        project_key,
        template_id,
        CASE
            WHEN question_key IS NOT NULL AND question_key <> '' THEN 'key:' || question_key
            ELSE 'id:' || question_id
        END AS identity,
        COUNT(DISTINCT question_id) AS question_ids,
        MAX(question_label) AS answered_label,
        COUNT(DISTINCT response_id) AS responses,
        COUNT(*) AS answer_rows
    FROM answers
    GROUP BY
        project_key,
        template_id,
        CASE
            WHEN question_key IS NOT NULL AND question_key <> '' THEN 'key:' || question_key
            ELSE 'id:' || question_id
        END
) counted
LEFT JOIN (
    SELECT
        project_key,
        template_id,
        CASE
            WHEN question_key IS NOT NULL AND question_key <> '' THEN 'key:' || question_key
            ELSE 'id:' || question_id
        END AS identity,
        label,
        question_type,
        wide_table,
        wide_column
    FROM questions
) current_questions
    ON current_questions.project_key = counted.project_key
    AND current_questions.template_id = counted.template_id
    AND current_questions.identity = counted.identity;

-- How often each choice of each choice question was picked: answers counts answer rows,
-- responses the distinct form responses. The question's label is its current one (see
-- v_question_answers, dropped above before this view); should a design have renamed a choice,
-- the greatest of its labels is shown.
CREATE VIEW v_choice_counts AS
SELECT
    picked.project_key,
    picked.template_id,
    picked.question_id,
    COALESCE(current_questions.question_label, picked.answered_label) AS question_label,
    picked.choice_id,
    picked.choice_label,
    picked.answers,
    picked.responses
FROM (
    SELECT
        project_key,
        template_id,
        question_id,
        CASE
            WHEN question_key IS NOT NULL AND question_key <> '' THEN 'key:' || question_key
            ELSE 'id:' || question_id
        END AS identity,
        MAX(question_label) AS answered_label,
        choice_id,
        MAX(choice_label) AS choice_label,
        COUNT(*) AS answers,
        COUNT(DISTINCT response_id) AS responses
    FROM answers
    WHERE choice_id IS NOT NULL
    GROUP BY
        project_key,
        template_id,
        question_id,
        CASE
            WHEN question_key IS NOT NULL AND question_key <> '' THEN 'key:' || question_key
            ELSE 'id:' || question_id
        END,
        choice_id
) picked
LEFT JOIN v_question_answers current_questions
    ON current_questions.project_key = picked.project_key
    AND current_questions.template_id = picked.template_id
    AND current_questions.identity = picked.identity;

-- Which column of which wide table holds which question: the pinned columns in table order with
-- the current label of their question (null once no design of a loaded export has it).
DROP VIEW IF EXISTS v_wide_columns;
CREATE VIEW v_wide_columns AS
SELECT
    wide_columns.wide_table,
    wide_columns.position,
    wide_columns.column_name,
    wide_columns.column_type,
    wide_columns.identity,
    labels.label AS question_label,
    wide_columns.first_seen_at,
    wide_columns.last_seen_at
FROM wide_columns
LEFT JOIN (
    SELECT wide_table, wide_column, MAX(label) AS label
    FROM questions
    GROUP BY wide_table, wide_column
) labels
    ON labels.wide_table = wide_columns.wide_table
    AND labels.wide_column = wide_columns.column_name;

-- Every load attempt; is_latest is 1 on the most recent attempt of each project. export_ids and
-- template_ids are JSON lists in the same order; row_counts a JSON object of rows per table.
DROP VIEW IF EXISTS v_load_log;
CREATE VIEW v_load_log AS
SELECT
    run_id,
    project_key,
    outcome,
    started_at,
    finished_at,
    seconds,
    rows_total,
    row_counts,
    export_ids,
    template_ids,
    schema_changes,
    error,
    CASE
        WHEN ROW_NUMBER() OVER (PARTITION BY project_key ORDER BY started_at DESC) = 1 THEN 1
        ELSE 0
    END AS is_latest
FROM load_log;
