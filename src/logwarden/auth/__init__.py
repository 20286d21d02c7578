"""Authentication and authorization: users, sessions, API keys, roles, the per-request principal, the audit log.

One middleware (`backend.py`) resolves the principal of every request; one gate (`permissions.py`) checks the
permission its route declares; the tenant comes from the principal (`tenants.py`). See docs/security.md.
"""
