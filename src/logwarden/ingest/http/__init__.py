"""HTTP ingest endpoints."""
