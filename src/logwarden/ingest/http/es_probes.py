"""The Elasticsearch calls shippers make before they send `_bulk`, answered harmlessly.

- `GET|HEAD /`: version info (an 8.x cluster); clients read `version.number` and `build_flavor`.
- `GET /_license`, `GET /_xpack`: an active basic license (Beats refuse to start without one).
- `GET /_cluster/health`: green (Vector's health check).
- Index templates, component templates, ILM policies, ingest pipelines, data streams, aliases:
  reads answer 404 (nothing is defined) and writes are acknowledged, so setup code moves on.
- `HEAD|PUT /{index}`: every index exists and can be created; logwarden needs no mappings. Date-math
  names (`PUT /<logstash-{now/d}-000001>`, as Logstash's ILM setup sends them) are created as well.

`GET /` is shared with the web console: `wants_elasticsearch` tells a shipper from a browser.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from logwarden import __version__
from logwarden.ingest.http.es_responses import elastic_api, elastic_error, elastic_json

ES_VERSION = "8.11.0"
CLUSTER_NAME = "logwarden"
CLUSTER_UUID = "bG9nd2FyZGVuLWVzLWFwaQ"
_BUILD_DATE = "2023-11-04T10:04:57.184859352Z"

# Management APIs whose resources logwarden does not keep: {prefix}/{name...}.
MANAGED_PREFIXES = (
    "/_index_template",
    "/_template",
    "/_component_template",
    "/_ilm/policy",
    "/_ingest/pipeline",
    "/_data_stream",
    "/_alias",
    "/_aliases",
)

_LICENSE = {
    "status": "active",
    "uid": "6c6f6777-6172-6465-6e00-000000000001",
    "type": "basic",
    "issue_date": "2026-01-01T00:00:00.000Z",
    "issue_date_in_millis": 1767225600000,
    "max_nodes": 1000,
    "max_resource_units": None,
    "issued_to": CLUSTER_NAME,
    "issuer": "elasticsearch",
    "start_date_in_millis": -1,
}


def info_body() -> dict[str, object]:
    """What `GET /` answers on an Elasticsearch 8 node."""
    return {
        "name": CLUSTER_NAME,
        "cluster_name": CLUSTER_NAME,
        "cluster_uuid": CLUSTER_UUID,
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "logwarden-" + __version__,
            "build_date": _BUILD_DATE,
            "build_snapshot": False,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    }


# User agents of Elasticsearch clients and shippers: they get the cluster info even if they accept HTML.
_SHIPPER_AGENTS = re.compile(
    r"elasticsearch|elastic-transport|beat|logstash|manticore|fluent|vector|go-http-client|opensearch", re.IGNORECASE
)


def wants_elasticsearch(request: Request) -> bool:
    """True unless the request is a browser asking for a page: Accept names text/html, and no Elasticsearch
    client header (`X-Elastic-*`, an `application/vnd.elasticsearch+json` Accept) or shipper user agent."""
    accept = request.headers.get("accept", "").lower()
    if "text/html" not in accept or "vnd.elasticsearch" in accept:
        return True
    if any(name.startswith("x-elastic-") for name in request.headers):
        return True
    return bool(_SHIPPER_AGENTS.search(request.headers.get("user-agent", "")))


@elastic_api
async def info(request: Request) -> Response:
    """GET / and HEAD /: cluster and version info."""
    return elastic_json(info_body())


@elastic_api
async def license_info(request: Request) -> Response:
    """GET /_license: an active basic license."""
    return elastic_json({"license": _LICENSE})


@elastic_api
async def xpack(request: Request) -> Response:
    """GET /_xpack: the license and no optional features."""
    build = {"hash": "logwarden-" + __version__, "date": _BUILD_DATE}
    return elastic_json(
        {"build": build, "license": {k: _LICENSE[k] for k in ("uid", "type", "status")}, "features": {}}
    )


@elastic_api
async def cluster_health(request: Request) -> Response:
    """GET /_cluster/health: one green node."""
    return elastic_json(
        {
            "cluster_name": CLUSTER_NAME,
            "status": "green",
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": 0,
            "active_shards": 0,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }
    )


@elastic_api
async def managed_resource(request: Request) -> Response:
    """Templates, policies, pipelines, data streams, aliases: none exist, every write is acknowledged."""
    if request.method in ("GET", "HEAD"):
        return elastic_error(404, f"{request.url.path} is not defined (logwarden needs no index management)")
    return elastic_json({"acknowledged": True})


@elastic_api
async def index_resource(request: Request) -> Response:
    """HEAD /{index}: every index exists. PUT /{index}: created (mappings and settings are not needed)."""
    name = request.path_params.get("index") or "<" + request.path_params["date_math"]
    if name.startswith(("_", "-", "+")):
        return elastic_error(400, f"no handler for {request.method} {request.url.path}", "invalid_index_name_exception")
    if request.method == "HEAD":
        return elastic_json({})
    return elastic_json({"acknowledged": True, "shards_acknowledged": True, "index": name})


def probe_routes() -> list[BaseRoute]:
    """The routes above; `/{index}` only for HEAD and PUT, so it shadows no other GET page."""
    routes: list[BaseRoute] = [
        Route("/", info, methods=["GET", "HEAD"]),
        Route("/_license", license_info, methods=["GET"]),
        Route("/_xpack", xpack, methods=["GET"]),
        Route("/_cluster/health", cluster_health, methods=["GET"]),
        Route("/_cluster/health/{rest:path}", cluster_health, methods=["GET"]),
    ]
    for prefix in MANAGED_PREFIXES:
        for path in (prefix, prefix + "/{name:path}"):
            routes.append(Route(path, managed_resource, methods=["GET", "HEAD", "PUT", "POST", "DELETE"]))
    routes.append(Route("/{index}", index_resource, methods=["HEAD", "PUT"]))
    # A date-math name holds a '/' once decoded; match it by its '<' so no other path is taken.
    routes.append(Route("/<{date_math:path}", index_resource, methods=["HEAD", "PUT"]))
    return routes


def elasticsearch_routes() -> list[BaseRoute]:
    """The whole Elasticsearch-compatible API (bulk and probes), to mount under `/es` for shippers."""
    from logwarden.ingest.http import es_bulk  # here: es_bulk's module is heavier and only this needs it

    return [
        Route(es_bulk.ROUTE, es_bulk.bulk, methods=["POST", "PUT"]),
        Route(es_bulk.INDEX_ROUTE, es_bulk.bulk, methods=["POST", "PUT"]),
        *probe_routes(),
    ]
