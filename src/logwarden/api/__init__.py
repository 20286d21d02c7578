"""The HTTP API: app factory and routes."""
