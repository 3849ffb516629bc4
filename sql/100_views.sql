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

-- How often each choice of each choice question was picked: answers counts answer rows,
-- responses the distinct form responses. Should a design have renamed a question or choice, the
-- greatest of its labels is shown.
DROP VIEW IF EXISTS v_choice_counts;
CREATE VIEW v_choice_counts AS
SELECT
    project_key,
    template_id,
    question_id,
    MAX(question_label) AS question_label,
    choice_id,
    MAX(choice_label) AS choice_label,
    COUNT(*) AS answers,
    COUNT(DISTINCT response_id) AS responses
FROM answers
WHERE choice_id IS NOT NULL
GROUP BY project_key, template_id, question_id, choice_id;

-- Every load attempt; is_latest is 1 on the most recent attempt of each project.
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
    error,
    CASE
        WHEN ROW_NUMBER() OVER (PARTITION BY project_key ORDER BY started_at DESC) = 1 THEN 1
        ELSE 0
    END AS is_latest
FROM load_log;
