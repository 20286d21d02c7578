"""Golden files: real-looking access, syslog and stack-trace samples through the parsers.

Each case runs a parser over `golden/<sample>.log` (one line per record) and compares the parsed
fields with `golden/<case>.json`. After a deliberate change, regenerate with
`LOGWARDEN_UPDATE_GOLDEN=1 pytest tests/unit/pipeline/parsers/test_golden.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.unit.pipeline.parsers.helpers import lines, rows, run

GOLDEN = Path(__file__).parent / "golden"

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "grok_combinedapachelog": ("apache_combined", {"type": "grok", "pattern": "%{COMBINEDAPACHELOG}"}),
    "grok_commonapachelog": ("apache_common", {"type": "grok", "pattern": "%{COMMONAPACHELOG}"}),
    "grok_httpd_combined_on_nginx": ("nginx_combined", {"type": "grok", "pattern": "%{HTTPD_COMBINEDLOG}"}),
    "apache_combined": ("apache_combined", {"type": "apache"}),
    "apache_common": ("apache_common", {"type": "apache", "format": "common"}),
    "nginx_combined": ("nginx_combined", {"type": "nginx"}),
    "grok_syslog_3164": ("syslog_3164", {"type": "grok", "pattern": "%{SYSLOGLINE}"}),
    "grok_syslog_5424": ("syslog_5424", {"type": "grok", "pattern": "%{SYSLOG5424LINE}"}),
    "multiline_java": ("java_trace", {"type": "multiline"}),
    "multiline_python": ("python_trace", {"type": "multiline"}),
}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    sample, settings = CASES[case]
    texts = (GOLDEN / f"{sample}.log").read_text().splitlines()
    result = run(settings, lines(*texts))
    got = [{k: _jsonable(v) for k, v in row.items()} for row in rows(result)]
    path = GOLDEN / f"{case}.json"
    if os.environ.get("LOGWARDEN_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(path.read_text())
    assert got == expected
