"""Alembic migration scripts of the metadata database (run by `logwarden.meta.migrate`, no alembic.ini)."""
