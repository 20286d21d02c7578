"""The core log schema and the vectorized helpers that produce it."""
