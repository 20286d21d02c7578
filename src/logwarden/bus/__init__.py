"""The batch bus: durable, deduplicated batches fanned out to named subscribers in sequence order."""
