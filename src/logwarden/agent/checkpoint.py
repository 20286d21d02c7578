"""Per-stream offsets the server has (acknowledged, or spooled on disk), persisted atomically.

The file is JSON: `{"version": 1, "agent_id": ..., "streams": {stream id: {dev, inode, path, offset,
fp_len, fp_sha256, final}}}`. `offset` is where reading resumes after a restart: every line before it
is stored by the server or waits in the spool. A stream whose file was closed for good carries `final`
(the offset after its last line) and is forgotten once `offset` reaches it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from logwarden.agent.durable import write_durably
from logwarden.agent.identity import FileId

VERSION = 1


class CheckpointError(Exception):
    """The checkpoint file exists but cannot be used; the message says why and where."""


@dataclass(slots=True)
class StreamCheckpoint:
    stream: str
    dev: int
    inode: int
    path: str
    offset: int
    fp_len: int
    fp_sha256: str
    final: int | None = None

    @property
    def file_id(self) -> FileId:
        return FileId(self.dev, self.inode)


class CheckpointStore:
    """Thread-safe: the reader registers and retires streams, the sender commits offsets."""

    def __init__(self, path: Path, agent_id: str) -> None:
        self.path = path
        self.agent_id = agent_id
        self._streams: dict[str, StreamCheckpoint] = {}
        self._lock = threading.Lock()
        self.writes = 0

    @classmethod
    def open(cls, path: Path, agent_id: str) -> CheckpointStore:
        """Load `path` if it exists (CheckpointError if it is unreadable).

        The agent id in the file is informational: stream ids are stored, not recomputed, so a changed
        hostname (a new container) continues the same streams.
        """
        store = cls(path, agent_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            return store
        try:
            doc = orjson.loads(path.read_bytes())
            if doc.get("version") != VERSION:
                raise CheckpointError(f"{path}: unsupported checkpoint version {doc.get('version')!r}")
            for stream, entry in doc["streams"].items():
                store._streams[stream] = StreamCheckpoint(stream=stream, **entry)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{path}: unreadable checkpoint file ({exc}); move it away to start over") from None
        return store

    def __len__(self) -> int:
        with self._lock:
            return len(self._streams)

    def get(self, stream: str) -> StreamCheckpoint | None:
        with self._lock:
            entry = self._streams.get(stream)
            return None if entry is None else StreamCheckpoint(**asdict(entry))

    def offset(self, stream: str) -> int | None:
        with self._lock:
            entry = self._streams.get(stream)
            return None if entry is None else entry.offset

    def find(self, fid: FileId) -> list[StreamCheckpoint]:
        """Live (not retired) streams recorded for this file instance."""
        with self._lock:
            return [
                StreamCheckpoint(**asdict(e)) for e in self._streams.values() if e.file_id == fid and e.final is None
            ]

    def register(self, entry: StreamCheckpoint) -> None:
        """Record a new stream and persist it before any of its lines is sent (its id must survive a crash)."""
        with self._lock:
            self._streams[entry.stream] = entry
            self._persist()

    def commit(self, positions: Mapping[str, int]) -> None:
        """The lines before these offsets are safe (acknowledged or spooled); persist."""
        if not positions:
            return
        with self._lock:
            for stream, offset in positions.items():
                entry = self._streams.get(stream)
                if entry is None:
                    continue
                entry.offset = max(entry.offset, offset)
                if entry.final is not None and entry.offset >= entry.final:
                    del self._streams[stream]
            self._persist()

    def update_identity(self, stream: str, path: str, fp_len: int, fp_sha256: str) -> None:
        """A new name or a longer fingerprint; written with the next persist."""
        with self._lock:
            entry = self._streams.get(stream)
            if entry is not None:
                entry.path, entry.fp_len, entry.fp_sha256 = path, fp_len, fp_sha256

    def retire(self, stream: str, final: int) -> None:
        """The file of `stream` is closed for good after `final`; forget it once the server has everything."""
        with self._lock:
            entry = self._streams.get(stream)
            if entry is None:
                return
            if entry.offset >= final:
                del self._streams[stream]
            else:
                entry.final = final
            self._persist()

    def forget(self, streams: Iterable[str]) -> None:
        """Drop streams whose files are gone (nothing left to read)."""
        with self._lock:
            dropped = [s for s in streams if self._streams.pop(s, None) is not None]
            if dropped:
                self._persist()

    def streams(self) -> list[StreamCheckpoint]:
        with self._lock:
            return [StreamCheckpoint(**asdict(e)) for e in self._streams.values()]

    def persist(self) -> None:
        with self._lock:
            self._persist()

    def _persist(self) -> None:
        streams = {s: {k: v for k, v in asdict(e).items() if k != "stream"} for s, e in self._streams.items()}
        doc = {"version": VERSION, "agent_id": self.agent_id, "streams": streams}
        write_durably(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        self.writes += 1
