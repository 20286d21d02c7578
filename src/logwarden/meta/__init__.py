"""Transactional metadata (saved searches, API rules, the rules engine's checkpoint, alerts and their history;
silences later): SQLAlchemy Core tables.

Embedded it is a SQLite file `<data_dir>/meta.sqlite`; set `meta_url` to a PostgreSQL URL when scaled out.
"""
