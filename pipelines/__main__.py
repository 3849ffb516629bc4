"""`python -m pipelines`: run the daily load job for every configured project."""

from pipelines.run import cli

cli()
