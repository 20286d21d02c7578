"""The reading side of the agent: find files, follow them through renames, truncation and deletion, and turn
new lines into batches for the sender.

Files are followed by identity (device + inode) through an open handle. Every `scan_interval` the globs
are expanded again: a known inode under a new matching name is a rename within the globs; a known inode
no longer under any matching name was renamed away or deleted and is read to its end, then closed once
idle for `close_removed_after`; an unknown inode is a new file, read from its checkpoint or from 0.
A file smaller than the offset read so far, or whose first bytes changed, was truncated (copytruncate)
or rewritten: it is read again from 0 as a new stream.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from logwarden.agent.batch import Batch, BatchBuilder
from logwarden.agent.checkpoint import CheckpointStore, StreamCheckpoint
from logwarden.agent.config import AgentConfig
from logwarden.agent.discovery import FoundFile, discover
from logwarden.agent.encode import RecordEncoder
from logwarden.agent.identity import FINGERPRINT_BYTES, FileId, fingerprint, new_stream_id
from logwarden.agent.lines import Lines
from logwarden.agent.metrics import AgentMetrics
from logwarden.agent.sender import Sender
from logwarden.agent.tailer import FileTailer

log = logging.getLogger("logwarden.agent")


class AgentError(Exception):
    """The sender thread died; the agent cannot go on."""


class FileReader:
    """Runs in the agent's main thread; hands sealed batches to the sender (blocking while it is full)."""

    def __init__(
        self,
        config: AgentConfig,
        checkpoints: CheckpointStore,
        sender: Sender,
        metrics: AgentMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._checkpoints = checkpoints
        self._sender = sender
        self._metrics = metrics
        self._clock = clock
        self._encoders = [RecordEncoder(inp, config.default_host) for inp in config.inputs]
        batch = config.output.batch
        self._builder = BatchBuilder(batch.max_lines, batch.max_bytes, batch.max_wait.total_seconds(), clock)
        self._tailers: dict[FileId, FileTailer] = {}
        self._tailers_lock = threading.Lock()  # the metrics thread reads the tailers
        self._first_scan = True
        self._halted = False  # a batch was abandoned at shutdown: no later batch may be queued
        self._stop = threading.Event()
        tail = config.tail
        self._poll_interval = tail.poll_interval.total_seconds()
        self._scan_interval = tail.scan_interval.total_seconds()
        self._chunk = tail.read_chunk_bytes
        self._turn = tail.max_bytes_per_turn

    # -- main loop ------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Read until `stop` is set, then hand over the current batch and stop the sender."""
        self._stop = stop
        next_scan = 0.0
        try:
            while not stop.is_set():
                if self._sender.error is not None:
                    raise AgentError(f"the sender failed: {self._sender.error!r}")
                now = self._clock()
                scan = now >= next_scan
                if scan:
                    next_scan = now + self._scan_interval
                if not self.step(now, scan=scan):
                    stop.wait(self._poll_interval)
        finally:
            self.shutdown()

    def step(self, now: float, *, scan: bool) -> bool:
        """One round: maybe expand the globs, read every open file once, send the batch if it is due.

        True if anything was read (the loop polls again at once instead of sleeping)."""
        if scan:
            self.scan(now)
        progressed = False
        for tailer in list(self._tailers.values()):
            if self._stop.is_set():
                break
            progressed |= self.poll(tailer, now)
        if self._builder.due(now):
            self._queue(self._builder.seal())
        return progressed

    def shutdown(self) -> None:
        """Queue what is batched (complete events only: unfinished ones are read again at the next start),
        let the sender send or spool it within shutdown_timeout, close the files."""
        deadline = time.monotonic() + self._config.shutdown_timeout.total_seconds()
        last = self._builder.seal()
        if last is not None and not self._halted and self._sender.error is None:
            self._halted = not self._sender.put(last, timeout=max(0.0, deadline - time.monotonic()))
        self._sender.stop(max(0.1, deadline - time.monotonic()))
        with self._tailers_lock:
            for tailer in self._tailers.values():
                tailer.close()
            self._tailers.clear()
        self._metrics.files_open.set(0)

    # -- discovery ------------------------------------------------------------------------------------------

    def scan(self, now: float) -> None:
        """Expand the globs: follow renames, notice files that left, open new ones."""
        found = discover(self._config.inputs)
        for fid, tailer in list(self._tailers.items()):
            seen = found.get(fid)
            if seen is not None:
                if seen.path != tailer.path:
                    log.info("%s renamed to %s (still read as the same stream)", tailer.path, seen.path)
                    self._metrics.rotations.labels("rename").inc()
                    tailer.path = seen.path
                    self._checkpoints.update_identity(
                        tailer.stream, seen.path, len(tailer.prefix), fingerprint(tailer.prefix)
                    )
                tailer.orphaned_at = None
            elif tailer.orphaned_at is None:
                tailer.orphaned_at = now
                try:
                    gone = os.fstat(tailer.fd).st_nlink == 0
                except OSError:
                    gone = True
                kind = "remove" if gone else "rename"
                self._metrics.rotations.labels(kind).inc()
                log.info(
                    "%s was %s: reading it to its end", tailer.path, "deleted" if gone else "renamed out of the globs"
                )
        for fid, seen in sorted(found.items(), key=lambda item: (item[1].mtime, item[1].path)):
            if fid not in self._tailers:
                self._open(fid, seen, now)
        if self._first_scan:
            self._first_scan = False
            open_streams = {t.stream for t in self._tailers.values()}
            stale = [c.stream for c in self._checkpoints.streams() if c.stream not in open_streams]
            if stale:
                log.info("forgetting %d checkpoints of files no longer found", len(stale))
                self._checkpoints.forget(stale)

    def _open(self, fid: FileId, seen: FoundFile, now: float) -> None:
        try:
            fd = os.open(seen.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot open %s: %s", seen.path, exc.strerror)
            return
        st = os.fstat(fd)
        real = FileId.of(st)
        if real in self._tailers:  # replaced by a file we already follow between the stat and the open
            os.close(fd)
            return
        config = self._config.inputs[seen.input_index]
        size = st.st_size
        prefix = os.pread(fd, FINGERPRINT_BYTES, 0) if size else b""
        resumed: StreamCheckpoint | None = None
        stale = []
        for entry in self._checkpoints.find(real):
            same_start = entry.fp_len <= len(prefix) and fingerprint(prefix[: entry.fp_len]) == entry.fp_sha256
            if resumed is None and same_start and entry.offset <= size:
                resumed = entry
            else:
                stale.append(entry.stream)
        if stale:
            log.info("%s changed while the agent was stopped (truncated or replaced): reading it anew", seen.path)
            self._checkpoints.forget(stale)
        if resumed is not None:
            stream, offset = resumed.stream, resumed.offset
            if resumed.path != seen.path or resumed.fp_len != len(prefix):
                self._checkpoints.update_identity(stream, seen.path, len(prefix), fingerprint(prefix))
        else:
            offset = size if self._first_scan and config.start_at == "end" else 0
            stream = new_stream_id(self._config.agent_id, real, prefix)
            self._checkpoints.register(
                StreamCheckpoint(stream, real.dev, real.inode, seen.path, offset, len(prefix), fingerprint(prefix))
            )
        tailer = FileTailer(
            fd=fd,
            path=seen.path,
            fid=real,
            input_index=seen.input_index,
            config=config,
            stream=stream,
            offset=offset,
            prefix=prefix,
            now=now,
        )
        tailer.size = size
        with self._tailers_lock:
            self._tailers[real] = tailer
        self._metrics.files_open.set(len(self._tailers))
        log.info("following %s from offset %d (stream %s)", seen.path, offset, stream)

    # -- reading --------------------------------------------------------------------------------------------

    def poll(self, tailer: FileTailer, now: float) -> bool:
        """Read what is new in one file (up to max_bytes_per_turn); True if anything was read."""
        try:
            size = os.fstat(tailer.fd).st_size
        except OSError as exc:
            log.warning("cannot stat %s: %s; closing it", tailer.path, exc.strerror)
            self._close(tailer, now)
            return False
        if size < tailer.splitter.read_offset or (size != tailer.size and not self._same_start(tailer, size)):
            self._truncated(tailer, now)
        tailer.size = size
        budget = self._turn
        read_any = False
        while budget > 0:
            want = min(self._chunk, budget)
            data = tailer.read(want)
            if not data:
                break
            read_any = True
            budget -= len(data)
            self._metrics.bytes_read.inc(len(data))
            lines = tailer.splitter.feed(data)
            if lines.texts:
                self._emit_lines(tailer, lines, now)
            if len(data) < want or self._halted:
                break
        if read_any:
            tailer.last_data_at = now
            tailer.size = max(tailer.size, tailer.splitter.read_offset)
        else:
            self._idle(tailer, now)
        return read_any

    def _same_start(self, tailer: FileTailer, size: int) -> bool:
        """The file still begins with the bytes seen before (else it was truncated and rewritten).

        One small read per change of size: appends never touch the first bytes, a rewrite does.
        """
        if size < len(tailer.prefix):
            return False
        head = tailer.head(size)
        if not head.startswith(tailer.prefix):
            return False
        if len(head) > len(tailer.prefix):
            tailer.prefix = head
            self._checkpoints.update_identity(tailer.stream, tailer.path, len(head), fingerprint(head))
        return True

    def _idle(self, tailer: FileTailer, now: float) -> None:
        """At the end of a file: time out a last line without newline, an open multiline event, a removed file."""
        config = tailer.config
        if tailer.splitter.pending_bytes and now - tailer.last_data_at >= config.partial_line_timeout.total_seconds():
            self._emit_lines(tailer, tailer.splitter.flush(), now)
        if tailer.joiner is not None:
            stale = tailer.joiner.flush_if_stale(now)
            if stale is not None:
                self._emit_events(tailer, stale)
        if tailer.orphaned_at is not None:
            idle_since = max(tailer.last_data_at, tailer.orphaned_at)
            if now - idle_since >= config.close_removed_after.total_seconds():
                self._close(tailer, now)

    def _truncated(self, tailer: FileTailer, now: float) -> None:
        unread = tailer.size - tailer.splitter.read_offset
        if unread > 0:
            self._metrics.lost_bytes.inc(unread)
            log.warning("%s was truncated before %d bytes of it could be read", tailer.path, unread)
        self._metrics.rotations.labels("truncate").inc()
        self._finish_stream(tailer, now)
        prefix = tailer.head(FINGERPRINT_BYTES)
        stream = new_stream_id(self._config.agent_id, tailer.fid, prefix)
        self._checkpoints.register(
            StreamCheckpoint(stream, tailer.fid.dev, tailer.fid.inode, tailer.path, 0, len(prefix), fingerprint(prefix))
        )
        log.info("%s was truncated: reading it again from the start (stream %s)", tailer.path, stream)
        tailer.restart(stream, 0, prefix, now)

    def _finish_stream(self, tailer: FileTailer, now: float) -> None:
        """Send what was read of a stream that ends (its unfinished line and event included); retire it."""
        self._emit_lines(tailer, tailer.splitter.flush(), now)
        if tailer.joiner is not None:
            self._emit_events(tailer, tailer.joiner.flush())
        self._checkpoints.retire(tailer.stream, tailer.emitted_end)

    def _close(self, tailer: FileTailer, now: float) -> None:
        self._finish_stream(tailer, now)
        with self._tailers_lock:
            self._tailers.pop(tailer.fid, None)
        tailer.close()
        self._metrics.files_open.set(len(self._tailers))
        log.info("closed %s (done reading it)", tailer.path)

    def _emit_lines(self, tailer: FileTailer, lines: Lines, now: float) -> None:
        if not lines.texts:
            return
        self._metrics.lines_read.inc(len(lines.texts))
        self._emit_events(tailer, tailer.joiner.push(lines, now) if tailer.joiner is not None else lines)

    def _emit_events(self, tailer: FileTailer, events: Lines) -> None:
        if not events.texts and events.end <= tailer.emitted_end:
            return
        records, starts = self._encoders[tailer.input_index].encode(tailer.stream, tailer.path, events)
        tailer.emitted_end = events.end
        for batch in self._builder.add(tailer.stream, records, starts, events.end):
            self._queue(batch)

    def _queue(self, batch: Batch | None) -> None:
        """Hand a sealed batch to the sender, waiting while it is full (this is the backpressure)."""
        if batch is None or self._halted:
            return
        if self._sender.put(batch, timeout=0.05):
            return
        self._metrics.backpressure.set(1)
        try:
            while not self._sender.put(batch, timeout=0.2):
                if self._stop.is_set() or self._sender.error is not None:
                    # Abandoned: its lines and everything after them are read again at the next start.
                    self._halted = True
                    return
        finally:
            self._metrics.backpressure.set(0)

    # -- metrics --------------------------------------------------------------------------------------------

    def file_lags(self) -> list[tuple[str, int]]:
        with self._tailers_lock:
            tailers = list(self._tailers.values())
        lags = []
        for t in tailers:
            committed = self._checkpoints.offset(t.stream)
            lags.append((t.path, max(0, t.size - (committed if committed is not None else 0))))
        return lags
