"""OpenSearch for bench/peers.py: a single node from the integ-test zip, `_bulk` ingest, the queries as DSL.

The node runs from an unpacked `org.opensearch.distribution.integ-test-zip:opensearch:<version>@zip` (no
security plugin, no bundled JDK) on a JDK given by `--java-home` or found under /usr/lib/jvm, with its own
copy of the config dir, and as a non-root user when the bench runs as root (OpenSearch refuses root).
The index has one shard and no replica; strings are keywords except the message, which is text.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
from pathlib import Path
from typing import Any

import orjson

from _common import free_port
from peers_engines import HIT_LIMIT, Case, Engine, rfc3339

OPENSEARCH_VERSION = "3.6.0"
OPENSEARCH_HOWTO = (
    "OpenSearch not found. Get the integ-test zip from Maven Central and unpack it, for example:\n"
    "  mvn dependency:copy -Dartifact=org.opensearch.distribution.integ-test-zip:opensearch:"
    f"{OPENSEARCH_VERSION}:zip -DoutputDirectory=/tmp\n"
    f"  mkdir -p /opt/opensearch && unzip -q /tmp/opensearch-{OPENSEARCH_VERSION}.zip -d /opt/opensearch\n"
    f"then pass --opensearch-home /opt/opensearch/opensearch-{OPENSEARCH_VERSION} (or set OPENSEARCH_HOME), and\n"
    "a JDK 21+ with --java-home (a Temurin JDK under /usr/lib/jvm is found by itself)."
)
INDEX = "logs"
BULK_ACTION = b'{"index":{}}\n'
MAPPING: dict[str, Any] = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        # Attribute strings are exact values (as logwarden and VictoriaLogs match them), never analyzed text.
        "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
        "properties": {
            "ts": {"type": "date_nanos"},  # the lines carry microseconds; `date` would cut them to ms
            "msg": {"type": "text"},
            **{k: {"type": "keyword"} for k in ("level", "service", "host", "trace_id", "span_id")},
            **{k: {"type": "long"} for k in ("status", "latency_ms")},
        },
    },
}


def find_opensearch_home(flag: str | None) -> Path | None:
    """--opensearch-home, else $OPENSEARCH_HOME, else /opt/opensearch/opensearch-<version>."""
    given = flag or os.environ.get("OPENSEARCH_HOME")
    for c in [given] if given else [f"/opt/opensearch/opensearch-{OPENSEARCH_VERSION}"]:
        if c and (Path(c).expanduser() / "bin" / "opensearch").is_file():
            return Path(c).expanduser()
    return None


def find_java_home(flag: str | None) -> Path | None:
    """--java-home, else $OPENSEARCH_JAVA_HOME or $JAVA_HOME, else the newest Temurin under /usr/lib/jvm."""
    found = sorted(glob.glob("/usr/lib/jvm/temurin-*"), key=lambda p: int(re.sub(r"\D", "", p) or 0))
    given = flag or os.environ.get("OPENSEARCH_JAVA_HOME") or os.environ.get("JAVA_HOME")
    for c in [given] if given else reversed(found):
        if c and (Path(c) / "bin" / "java").is_file():
            return Path(c)
    return None


class OpenSearch(Engine):
    """One OpenSearch node: `_bulk` ingest into one index, DSL searches and aggregations."""

    name = "opensearch"
    ingest_path = f"/{INDEX}/_bulk"

    def __init__(self, work_dir: Path, home: Path, java_home: Path, user: str | None) -> None:
        self.home, self.java_home, self.user = home, java_home, user
        self.transport_port = free_port()
        super().__init__(work_dir)

    def argv(self, port: int) -> list[str]:
        w = self.work_dir
        return [str(self.home / "bin" / "opensearch"), "-Ediscovery.type=single-node", "-Enetwork.host=127.0.0.1",
                f"-Ehttp.port={port}", f"-Etransport.port={self.transport_port}", f"-Epath.data={self.data_dir}",
                f"-Epath.logs={w / 'logs'}"]  # fmt: skip

    def popen_kwargs(self) -> dict[str, Any]:
        w = self.work_dir
        conf = w / "config"
        if conf.exists():  # started again after a stop: same config, same owner
            return self._kwargs(conf)
        shutil.copytree(self.home / "config", conf)
        # The stock jvm.options write GC logs and heap dumps relative to the install dir, which is not ours.
        opts = (conf / "jvm.options").read_text()
        opts = opts.replace("logs/gc.log", f"{w}/logs/gc.log").replace("HeapDumpPath=data", f"HeapDumpPath={w}")
        (conf / "jvm.options").write_text(opts.replace("ErrorFile=logs/", f"ErrorFile={w}/logs/"))
        (w / "logs").mkdir(exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            w.parent.chmod(0o711)  # mkdtemp's 0700 would keep the other user out of its own work dir
            for root, dirs, files in os.walk(w):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(name, entry.pw_uid, entry.pw_gid)
        return self._kwargs(conf)

    def _kwargs(self, conf: Path) -> dict[str, Any]:
        env = {**os.environ, "OPENSEARCH_JAVA_HOME": str(self.java_home), "OPENSEARCH_PATH_CONF": str(conf)}
        kwargs: dict[str, Any] = {"env": env, "cwd": str(self.work_dir)}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            kwargs |= {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        return kwargs

    def ready_path(self) -> str:
        return "/_cluster/health?wait_for_status=yellow&timeout=1s"

    def start(self, timeout: float = 180.0) -> float:
        waited = super().start(timeout)
        if self.request("HEAD", f"/{INDEX}")[0] == 404:  # the first start; a restart finds its index
            self.ok("PUT", f"/{INDEX}", json.dumps(MAPPING).encode(), "application/json")
        return waited

    def wire_body(self, raw: bytes) -> bytes:
        # An action line before each document, without a per-line Python loop.
        return BULK_ACTION + raw[:-1].replace(b"\n", b"\n" + BULK_ACTION) + b"\n"

    def ack_error(self, payload: bytes) -> str | None:
        answer = orjson.loads(payload)
        if not answer.get("errors"):
            return None
        bad = next(i for i in answer["items"] if i["index"].get("error"))
        return f"_bulk item error: {bad['index']['error']}"

    def before_stop(self) -> None:
        # The disk figure is the index after a force-merge to one segment, as an operator would leave it.
        self.ok("POST", f"/{INDEX}/_forcemerge?max_num_segments=1")
        self.ok("POST", f"/{INDEX}/_flush")

    def search(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = orjson.loads(
            self.ok("POST", f"/{INDEX}/{path}", orjson.dumps(body), "application/json")
        )
        return answer

    @staticmethod
    def _where(start: Any, end: Any, *clauses: dict[str, Any], not_: Any = ()) -> dict[str, Any]:
        rng = {"range": {"ts": {"gte": rfc3339(start), "lt": rfc3339(end)}}}
        return {"bool": {"filter": [rng, *clauses], "must_not": list(not_)}}

    def count(self, start: Any, end: Any) -> int:
        return int(self.search("_count", {"query": self._where(start, end)})["count"])

    def run(self, case: Case) -> Any:
        s, e = case.start, case.end
        if case.kind == "hits":
            phrase = case.logwarden.strip('"')
            body = {"size": HIT_LIMIT, "sort": [{"ts": "desc"}], "track_total_hits": True,
                    "query": self._where(s, e, {"match_phrase": {"msg": phrase}})}  # fmt: skip
            return int(self.search("_search", body)["hits"]["total"]["value"])
        if case.kind == "trace":
            body = {
                "size": 1000,
                "sort": [{"ts": "asc"}],
                "query": self._where(s, e, {"term": {"trace_id": case.logwarden}}),
            }
            return len(self.search("_search", body)["hits"]["hits"])
        if case.kind == "timechart":
            agg: dict[str, Any] = {"date_histogram": {"field": "ts", "fixed_interval": "1m", "min_doc_count": 1}}
            buckets = self._agg(self._where(s, e), agg)
            return sorted((b["key"] // 1000, b["doc_count"]) for b in buckets)
        if case.name == "stats_errors_by_service_24h":
            where = self._where(s, e, {"term": {"level": "ERROR"}})
            return sorted(
                (b["key"], b["doc_count"]) for b in self._agg(where, {"terms": {"field": "service", "size": 1000}})
            )
        if case.name == "top10_host_filtered_24h":
            where = self._where(s, e, not_=[{"term": {"level": "DEBUG"}}])
        elif case.name == "top10_host_attr_filter_24h":
            where = self._where(s, e, {"range": {"status": {"gte": 500}}})
        else:
            raise ValueError(f"no OpenSearch form for case {case.name}")
        return [b["doc_count"] for b in self._agg(where, {"terms": {"field": "host", "size": 10}})]

    def _agg(self, where: dict[str, Any], agg: dict[str, Any]) -> list[dict[str, Any]]:
        answer = self.search("_search", {"size": 0, "track_total_hits": False, "query": where, "aggs": {"g": agg}})
        buckets: list[dict[str, Any]] = answer["aggregations"]["g"]["buckets"]
        return buckets
