"""`logwarden report` against a running server (a real `logwarden serve` subprocess): markdown by default,
`-o json`, and a clear error for a bad `--since`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx


def test_report_cli_against_running_server(tmp_path: Path, server_factory: Any) -> None:
    server = server_factory(tmp_path / "data")
    body = b"\n".join(
        b'{"msg":"charge %d declined","level":"error","service":"payments","latency_ms":%d}' % (i, i) for i in range(5)
    )
    assert httpx.post(server.url + "/api/v1/ingest", content=body).status_code == 200
    cmd = [sys.executable, "-m", "logwarden", "report", "--server", server.url, "--since", "15m"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("# logwarden report: ") and "## Components" in out.stdout
    assert "| payments | 0 | 5 |" in out.stdout and "## Latency" in out.stdout
    as_json = json.loads(subprocess.run([*cmd, "-o", "json"], capture_output=True, text=True, check=True).stdout)
    assert as_json["levels"] == {"ERROR": 5} and as_json["components"][0]["latency"][0]["p50"] == 2
    bad = subprocess.run([*cmd[:-1], "soon"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "400" in bad.stderr and "since" in bad.stderr
