"""nginx / apache access-log parsers: friendly names, types, dashes, time, formats and bad lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tests.unit.pipeline.parsers.helpers import build, lines, rows, run

COMBINED = (
    '203.0.113.9 - admin [21/Nov/2026:12:00:00 +0100] "PUT /api/users/7?x=1 HTTP/2.0" 500 1534 '
    '"https://app.example.com/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"'
)
COMMON = '192.0.2.1 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 -'


def test_combined_line_fields_types_and_time() -> None:
    [row] = rows(run({"type": "nginx"}, lines(COMBINED)))
    assert row["client_ip"] == "203.0.113.9"
    assert row["remote_user"] == "admin"
    assert (row["method"], row["path"], row["http_version"]) == ("PUT", "/api/users/7?x=1", "2.0")
    assert row["status"] == 500 and row["bytes"] == 1534
    assert row["referrer"] == "https://app.example.com/"
    assert row["user_agent"].startswith("Mozilla/5.0")
    assert row["ts"] == datetime(2026, 11, 21, 11, 0, tzinfo=UTC)


def test_dashes_are_left_out() -> None:
    [row] = rows(run({"type": "apache"}, lines(COMMON)))
    assert "bytes" not in row and "remote_user" not in row and "referrer" not in row
    assert row["status"] == 200


def test_common_format_ignores_referrer_and_agent() -> None:
    [row] = rows(run({"type": "apache", "format": "common"}, lines(COMBINED)))
    assert row["status"] == 500 and "user_agent" not in row


def test_nginx_timings_plain_and_keyed() -> None:
    out = rows(run({"type": "nginx"}, lines(COMBINED + " 0.532 0.530", COMBINED + ' rt=0.010 uct="0.000" urt="0.008"')))
    assert (out[0]["request_time"], out[0]["upstream_time"]) == (0.532, 0.53)
    assert (out[1]["request_time"], out[1]["upstream_time"]) == (0.01, 0.008)


def test_bad_request_line_keeps_raw_request() -> None:
    [row] = rows(
        run({"type": "nginx"}, lines('1.2.3.4 - - [21/Nov/2026:12:00:00 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"'))
    )
    assert row["request"] == "\\x16\\x03\\x01" and "method" not in row and row["status"] == 400


def test_not_an_access_line_is_an_error_and_unchanged() -> None:
    out = rows(run({"type": "nginx"}, lines("GET / 200", COMBINED)))
    assert out[0]["error"] == "not an access line in nginx combined format"
    assert out[0]["ts"] == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    assert "error" not in out[1]


def test_target_and_set_time_off() -> None:
    [row] = rows(run({"type": "apache", "target": "http", "set_time": False}, lines(COMBINED)))
    assert row["http.status"] == 500 and "status" not in row
    assert row["ts"] == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValidationError):
        build({"type": "nginx", "format": "json"})
