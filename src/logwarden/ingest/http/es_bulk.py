"""POST /_bulk and POST /{index}/_bulk: what Filebeat, Logstash, Fluent Bit and Vector send to Elasticsearch.

Documents land in the core schema (ECS `@timestamp`, `log.level`, `service.name`, `host.name`,
`trace.id`, `span.id` map onto core fields); the index name goes to `attrs.index` and, with its daily
or rollover suffix removed, is the service of documents that name none. Client ids (`_id`) become
log ids. The answer is Elasticsearch's, item by item, so shippers retry or drop exactly what failed.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from logwarden.ingest.http.common import admitted_body, batch_context, store_batch
from logwarden.ingest.http.context import context_of
from logwarden.ingest.http.es_bulk_decode import DecodedBulk, decode_bulk, render_bulk_response
from logwarden.ingest.http.es_responses import elastic_api, elastic_json
from logwarden.ingest.http.media import media_type, unsupported_media_type
from logwarden.ingest.ndjson import DecodedBody

SOURCE = "es_bulk"
ROUTE = "/_bulk"
INDEX_ROUTE = "/{index}/_bulk"
# NDJSON by any name (application/x-ndjson, application/vnd.elasticsearch+x-ndjson, ...), or untyped.
_TEXT_TYPES = ("", "text/plain", "application/octet-stream")


@elastic_api
async def bulk(request: Request) -> Response:
    """Store the documents of index/create actions; answer per item like Elasticsearch."""
    started = time.monotonic()
    kind = media_type(request)
    if kind not in _TEXT_TYPES and "json" not in kind:
        raise unsupported_media_type(request, ROUTE, "NDJSON action/source lines (application/x-ndjson)")
    default_index = request.path_params.get("index") or None
    ctx = batch_context(request, SOURCE)
    cfg = context_of(request).config.ingest
    decoded: list[DecodedBulk] = []

    def decode(body: bytes) -> DecodedBody:
        result = decode_bulk(body, default_index, cfg.max_line_bytes, cfg.max_json_depth)
        decoded.append(result)
        return result.body

    async with admitted_body(request, ROUTE) as body:
        result = await store_batch(request, ROUTE, lambda: decode(body), ctx, len(body))
    outcome = decoded[0].outcome
    for item in result.refused_items:
        # Older than retention: a 400 the shipper drops (never retries), with the reason.
        outcome.errors[item] = ("illegal_argument_exception", result.refused_line_reason or "refused")
    took = int((time.monotonic() - started) * 1000)
    return elastic_json(render_bulk_response(outcome, took))
