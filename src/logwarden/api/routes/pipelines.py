"""GET /api/v1/pipelines: the running pipeline version, its pipelines, and the last refused reload."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from logwarden.api.runtime import runtime_of


async def status(request: Request) -> JSONResponse:
    st = runtime_of(request).pipeline_status
    if st is None:
        return JSONResponse({"version": "", "pipelines": [], "config_file": None, "last_error": None})
    return JSONResponse(
        {
            "version": st.version,
            "config_file": st.config_file,
            "loaded_at": st.loaded_at.isoformat() if st.loaded_at else None,
            "pipelines": st.pipelines,
            "last_error": st.last_error,
            "last_error_at": st.last_error_at.isoformat() if st.last_error_at else None,
        }
    )
