-- Version 2: wide tables keep their columns through form changes, and the load log names the
-- template of each export.

-- One row per pinned column of a wide table. identity is what the column holds:
-- 'key:<question key>', else 'id:<question id>', or 'column:<name>' for a column no question
-- claims. column_name is chosen the first time the identity is seen and never changes;
-- column_type (text, number, integer, boolean, date, time, datetime) only widens. The runs and
-- UTC times record when the identity was first and last in a load.
CREATE TABLE IF NOT EXISTS wide_columns (
    wide_table TEXT NOT NULL,
    identity TEXT NOT NULL,
    column_name TEXT NOT NULL,
    column_type TEXT NOT NULL,
    position BIGINT NOT NULL,
    first_seen_run TEXT,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_run TEXT,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (wide_table, identity),
    UNIQUE (wide_table, column_name)
);

-- Every change to a wide table's columns: add_column (a new identity), widen_type (old_type to
-- new_type, values converted, none lost) and adopt_column (a column found in a table created
-- before version 2, registered as it was). changed_at is UTC.
CREATE TABLE IF NOT EXISTS schema_changes (
    wide_table TEXT NOT NULL,
    column_name TEXT NOT NULL,
    identity TEXT NOT NULL,
    change TEXT NOT NULL,
    old_type TEXT,
    new_type TEXT,
    project_key TEXT,
    run_id TEXT,
    changed_at TIMESTAMP NOT NULL
);

CREATE INDEX IF NOT EXISTS schema_changes_wide_table_idx ON schema_changes (wide_table);

-- template_ids: a JSON list, the template of each export in export_ids, in the same order;
-- schema_changes: how many changes the load made to wide tables' columns.
ALTER TABLE load_log ADD COLUMN template_ids TEXT;

ALTER TABLE load_log ADD COLUMN schema_changes BIGINT;
