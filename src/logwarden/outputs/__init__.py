"""Outputs: lossless batch-bus subscribers that ship stored lines elsewhere (the `copy` step's sinks)."""
