"""The web console: a server-rendered shell, hand-written ES modules and vendored libraries, all in the wheel.

`routes()` gives the console's routes (pages and static assets); `GET /` is shared with the Elasticsearch
emulation, which answers clients that do not ask for HTML (see `ingest.http.es_probes.wants_elasticsearch`).
"""

from __future__ import annotations

from logwarden.console.routes import STATIC_PREFIX, routes

__all__ = ["STATIC_PREFIX", "routes"]
