"""Transactional metadata (saved searches now; rules, silences, alert state later): SQLAlchemy Core tables.

Embedded it is a SQLite file `<data_dir>/meta.sqlite`; set `meta_url` to a PostgreSQL URL when scaled out.
"""
