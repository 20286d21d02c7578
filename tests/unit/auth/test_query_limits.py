"""Per-role query limits (`limits.roles`): row caps on every read, a timeout answered 408, admins untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from logwarden.auth.roles import Role
from logwarden.config.loader import ConfigError
from tests.conftest import make_config
from tests.unit.auth.conftest import AuthServer, started

LINES = 5


def _seed(server: AuthServer) -> None:
    """Five lines of one trace in tenant alpha, with ids `l0`…`l4`."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = b"\n".join(
        orjson.dumps(
            {"ts": now, "msg": f"line {i}", "service": "api", "host": "h1", "trace_id": "t1", "log_id": f"l{i}"}
        )
        for i in range(LINES)
    )
    resp = server.client.post("/api/v1/ingest", content=body, headers=server.headers("alpha", Role.INGEST))
    assert resp.status_code == 200, resp.text


def test_a_viewer_gets_at_most_its_row_cap_and_an_admin_everything(tmp_path: Path) -> None:
    with started(tmp_path, **{"limits.roles.viewer.max_rows": 2}) as server:
        _seed(server)
        client = server.client
        viewer, admin = server.headers("alpha", Role.VIEWER), server.headers("alpha", Role.ADMIN)
        search = client.get("/api/v1/search", params={"start": "1h"}, headers=viewer).json()
        assert len(search["hits"]) == 2 and search["total"] == LINES  # the total says there is more
        assert len(client.get("/api/v1/search", params={"start": "1h"}, headers=admin).json()["hits"]) == LINES
        query = client.post("/api/v1/query", json={"q": "", "start": "1h"}, headers=viewer).json()
        assert len(query["hits"]) == 2 and query["total"] == LINES
        trace = client.get("/api/v1/trace/t1", params={"start": "1h"}, headers=viewer).json()
        assert len(trace["lines"]) == 2 and trace["truncated"] is True and trace["summary"]["lines"] == LINES
        context = client.get("/api/v1/context/l2", params={"start": "1h"}, headers=viewer).json()
        assert context["before"] == 2 and context["after"] == 2  # the default 20 each, lowered to the cap


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/api/v1/search", {"limit": "3"}),
        ("GET", "/api/v1/stats/count", {"limit": "3"}),
        ("POST", "/api/v1/query", {"limit": 3}),
        ("GET", "/api/v1/trace/t1", {"limit": "3"}),
        ("GET", "/api/v1/context/l2", {"before": "3"}),
        ("GET", "/api/v1/patterns", {"limit": "3"}),
    ],
)
def test_an_explicit_limit_above_the_cap_is_refused_with_the_setting(
    tmp_path: Path, method: str, path: str, params: dict[str, Any]
) -> None:
    with started(tmp_path, **{"limits.roles.viewer.max_rows": 2}) as server:
        _seed(server)
        viewer = server.headers("alpha", Role.VIEWER)
        if method == "POST":
            resp = server.client.post(path, json={"start": "1h", **params}, headers=viewer)
        else:
            resp = server.client.get(path, params={"start": "1h", **params}, headers=viewer)
        assert resp.status_code == 400, resp.text
        assert "limits.roles.viewer.max_rows" in resp.json()["error"]
        # The same request within the cap, and an editor (no cap) asking for more, are served.
        ok = {k: 2 if isinstance(v, int) else "2" for k, v in params.items()}
        if method == "POST":
            assert server.client.post(path, json={"start": "1h", **ok}, headers=viewer).status_code == 200
        else:
            assert server.client.get(path, params={"start": "1h", **ok}, headers=viewer).status_code == 200
            editor = server.headers("alpha", Role.EDITOR)
            assert server.client.get(path, params={"start": "1h", **params}, headers=editor).status_code == 200


def test_sql_rows_are_capped_for_the_role(tmp_path: Path) -> None:
    with started(tmp_path, **{"limits.roles.editor.max_rows": 2}) as server:
        _seed(server)
        editor = server.headers("alpha", Role.EDITOR)
        resp = server.client.post(
            "/api/v1/sql", json={"sql": "SELECT message FROM logs", "start": "1h"}, headers=editor
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["row_count"] == 2 and resp.json()["truncated"] is True and resp.json()["limit"] == 2
        over = server.client.post("/api/v1/sql", json={"sql": "SELECT 1", "limit": 3}, headers=editor)
        assert over.status_code == 400 and "limits.roles.editor.max_rows" in over.json()["error"]


def test_a_query_past_the_role_timeout_gets_408_with_the_reason(tmp_path: Path) -> None:
    # A microsecond: every read of the store (a thread-pool round trip) takes longer.
    with started(tmp_path, **{"limits.roles.viewer.query_timeout": "0.000001s"}) as server:
        _seed(server)
        client = server.client
        for path in ("/api/v1/search", "/api/v1/query", "/api/v1/histogram", "/api/v1/trace/t1"):
            resp = client.get(path, params={"start": "1h"}, headers=server.headers("alpha", Role.VIEWER))
            assert resp.status_code == 408, (path, resp.text)
            assert "limits.roles.viewer.query_timeout" in resp.json()["error"]
            # Editors and admins have no timeout here: the same read answers.
            assert client.get(path, params={"start": "1h"}, headers=server.headers("alpha", Role.EDITOR)).is_success
        metrics = client.get("/metrics").text
        assert 'logwarden_refused_requests_total{route="/api/v1/search",status="408"} 1.0' in metrics


def test_a_generous_timeout_changes_nothing(tmp_path: Path) -> None:
    with started(tmp_path, **{"limits.roles.viewer.query_timeout": "60s"}) as server:
        _seed(server)
        resp = server.client.get("/api/v1/search", params={"start": "1h"}, headers=server.headers("alpha", Role.VIEWER))
        assert resp.status_code == 200 and len(resp.json()["hits"]) == LINES


def test_invalid_role_limits_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits\.roles\.viewer\.query_timeout"):
        make_config(tmp_path, **{"limits.roles.viewer.query_timeout": "0s"})
    with pytest.raises(ConfigError, match=r"limits\.roles"):
        make_config(tmp_path, **{"limits.roles.ingest.max_rows": 5})  # ingest keys read nothing


def test_the_role_timeout_caps_a_sql_statements_own(tmp_path: Path) -> None:
    with started(tmp_path, **{"limits.roles.editor.query_timeout": "0.3s"}) as server:
        heavy = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000) b"
        # The statement asks for a minute; the editor's role allows 0.3 s: its worker is killed then.
        resp = server.client.post(
            "/api/v1/sql", json={"sql": heavy, "timeout": 60}, headers=server.headers("alpha", Role.EDITOR)
        )
        assert resp.status_code == 408, resp.text
        assert "0.3 s" in resp.json()["error"]
