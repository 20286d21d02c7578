"""Lines (or multiline events) of one input → NDJSON records with labels and `<stream>@<offset>` log ids.

Raw lines cost one orjson.dumps of the text and one bytes formatting per line: the labels are
serialized once per file, not per line. Empty lines produce no record.
"""

from __future__ import annotations

from typing import Any

import orjson

from logwarden.agent.config import FileInput, JsonParser
from logwarden.agent.lines import Lines
from logwarden.model.schema import FIELD_ALIASES

_DUMPS = orjson.dumps
_LOADS = orjson.loads
_NL = orjson.OPT_APPEND_NEWLINE
_SERVICE_KEYS = frozenset(FIELD_ALIASES["service"])
_HOST_KEYS = frozenset(FIELD_ALIASES["host"])


class RecordEncoder:
    """One per input; `encode` is called per file read with that file's stream id and path."""

    def __init__(self, config: FileInput, default_host: str) -> None:
        self.json = isinstance(config.parser, JsonParser)
        self.file_attr = config.file_attr
        labels: dict[str, Any] = {}
        if config.service is not None:
            labels["service"] = config.service
        labels["host"] = config.host if config.host is not None else default_host
        labels.update(config.attrs)
        self.labels = labels
        self._suffix_cache: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def _suffix(self, path: str) -> tuple[bytes, dict[str, Any]]:
        """(`,"service":...,"file":...` for raw records, the same fields as a dict for JSON records)."""
        cached = self._suffix_cache.get(path)
        if cached is None:
            fields = dict(self.labels)
            if self.file_attr:
                fields[self.file_attr] = path
            encoded = _DUMPS(fields)
            cached = (b"," + encoded[1:-1] if len(encoded) > 2 else b"", fields)
            if len(self._suffix_cache) > 1000:
                self._suffix_cache.clear()
            self._suffix_cache[path] = cached
        return cached

    def encode(self, stream: str, path: str, lines: Lines) -> tuple[list[bytes], list[int]]:
        """(records, file offset of each record's first line); each record ends with a newline."""
        suffix, fields = self._suffix(path)
        sid = stream.encode()
        texts, bounds = lines.texts, lines.bounds
        if self.json:
            records, starts = self._encode_json(sid, stream, texts, bounds, suffix, fields)
        elif "" in texts:
            starts = [bounds[i] for i, t in enumerate(texts) if t]
            records = [
                b'{"msg":%b,"log_id":"%b@%d"%b}\n' % (_DUMPS(t), sid, s, suffix)
                for t, s in zip(filter(None, texts), starts, strict=True)
            ]
        else:
            starts = bounds[:-1]
            records = [
                b'{"msg":%b,"log_id":"%b@%d"%b}\n' % (_DUMPS(t), sid, s, suffix)
                for t, s in zip(texts, starts, strict=True)
            ]
        if lines.truncated:
            for i, start in enumerate(starts):
                if start in lines.truncated:
                    records[i] = records[i][:-2] + b',"truncated":true}\n'
        return records, starts

    def _encode_json(
        self,
        sid: bytes,
        stream: str,
        texts: list[str],
        bounds: list[int],
        suffix: bytes,
        fields: dict[str, Any],
    ) -> tuple[list[bytes], list[int]]:
        records: list[bytes] = []
        starts: list[int] = []
        for i, text in enumerate(texts):
            if not text:
                continue
            start = bounds[i]
            obj: Any = None
            if text[0] == "{":
                try:
                    obj = _LOADS(text)
                except orjson.JSONDecodeError:
                    obj = None
            if isinstance(obj, dict):
                if "log_id" in obj:
                    obj["line_log_id"] = obj.pop("log_id")
                record = {**fields, **obj}
                # The line names its own service/host under another alias: that one wins over the label.
                if "service" in fields and "service" not in obj and not _SERVICE_KEYS.isdisjoint(obj):
                    del record["service"]
                if "host" not in obj and not _HOST_KEYS.isdisjoint(obj):
                    del record["host"]
                record["log_id"] = f"{stream}@{start}"
                try:
                    records.append(_DUMPS(record, option=_NL))
                    starts.append(start)
                    continue
                except TypeError:
                    pass  # e.g. an integer beyond 64 bits: ship the line as text
            reason = "not a JSON object" if obj is None or not isinstance(obj, dict) else "unencodable JSON"
            records.append(
                b'{"msg":%b,"log_id":"%b@%d","parse_error":"%b"%b}\n'
                % (_DUMPS(text), sid, start, reason.encode(), suffix)
            )
            starts.append(start)
        return records, starts
