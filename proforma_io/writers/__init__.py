"""Writers of a project's canonical tables: the Parquet lake (`parquet`) and the SQL warehouse
(`warehouse`)."""
