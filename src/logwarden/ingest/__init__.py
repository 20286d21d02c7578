"""Sources: everything that turns bytes from a client into core-schema batches."""
