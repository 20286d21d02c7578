"""Ingest pipelines: ordered processors (parse, transform, enrich, redact, route) over wide Arrow batches."""
