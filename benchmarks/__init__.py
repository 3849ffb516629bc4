"""Benchmarks of the pipeline against the tools a user would use instead; not part of the tests.

Run `make bench` or `.venv/bin/python -m benchmarks --help`; docs/benchmarks.md has the results.
"""
