"""GET /api/v1/tail?q=…: live tail as Server-Sent Events, filtered as lines arrive (see query/tail.py).

Each matching line is one `data:` event with the line as JSON; a comment line every HEARTBEAT seconds
keeps proxies from closing an idle stream; `event: dropped` reports lines lost because the client read
too slowly. The stream ends when the client goes away or the server shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from logwarden.api.errors import ApiError
from logwarden.api.routes.snapshot import json_response
from logwarden.api.runtime import runtime_of
from logwarden.outputs.tail import TailClosedError, TailSubscription, compile_tail
from logwarden.query.errors import QuerySyntaxError

HEARTBEAT_SECONDS = 15.0


async def _events(sub: TailSubscription, heartbeat: float) -> AsyncIterator[bytes]:
    reported = 0
    try:
        # Sent at once so clients (and tests) know the subscription is live before lines arrive.
        yield b": connected\nretry: 3000\n\n"
        while True:
            lines = await sub.next_lines(heartbeat)
            if lines is None:
                break
            if not lines:
                yield b": heartbeat\n\n"
                continue
            chunks = []
            if sub.dropped != reported:
                reported = sub.dropped
                chunks.append(b"event: dropped\ndata: " + orjson.dumps({"dropped": reported}) + b"\n\n")
            chunks.extend(b"data: " + line + b"\n\n" for line in lines)
            yield b"".join(chunks)
    finally:
        sub.close()


async def tail(request: Request) -> Response:
    """Stream the caller's tenant's new lines that match `q` as Server-Sent Events."""
    rt = runtime_of(request)
    rt.require_sink()
    tenant = rt.tenant(request)
    text = request.query_params.get("q", "")
    try:
        query = compile_tail(text)  # the filter, and the pipes that apply line by line
    except QuerySyntaxError as exc:
        return json_response({"error": str(exc), "column": exc.column}, status=400)
    try:
        sub = rt.tail.subscribe(tenant, query.mask, query.shape)
    except TailClosedError as exc:
        raise ApiError(503, f"live tail unavailable: {exc}", {"Retry-After": "1"}) from None
    return StreamingResponse(
        _events(sub, HEARTBEAT_SECONDS),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
