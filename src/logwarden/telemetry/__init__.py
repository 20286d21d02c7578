"""logwarden's own metrics."""
