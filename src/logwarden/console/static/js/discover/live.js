// Live mode: /api/v1/tail (Server-Sent Events) read with fetch, so a bad query's 400 (with its column)
// reaches the query bar. Lines wait in a bounded queue and are drawn once per animation frame; the table
// keeps at most MAX_ROWS rows (the oldest go), so 2k lines/s stay smooth.

import { ApiError, params } from "../api.js";

export const MAX_ROWS = 5000;
const MAX_PER_FRAME = 1000;

/** Parse SSE text into events: [{event, data}]; returns the unparsed tail. */
export function parseEvents(buffer, emit) {
  let start = 0;
  for (;;) {
    const end = buffer.indexOf("\n\n", start);
    if (end < 0) break;
    const block = buffer.slice(start, end);
    start = end + 2;
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) emit(event, data.join("\n"));
  }
  return buffer.slice(start);
}

/**
 * startLive({q, onBatch(lines), onDropped(n), onError(err), onOpen()}) → {stop()}
 * onBatch gets at most MAX_PER_FRAME lines per animation frame, oldest first.
 */
export function startLive({ q, onBatch, onDropped, onError, onOpen }) {
  const abort = new AbortController();
  let queue = [];
  let frame = 0;
  let dropped = 0; // lines this page dropped (queue over MAX_ROWS) plus the server's count

  function flush() {
    frame = 0;
    if (!queue.length) return;
    const batch = queue.length > MAX_PER_FRAME ? queue.splice(0, MAX_PER_FRAME) : queue;
    if (batch === queue) queue = [];
    onBatch(batch);
    if (queue.length) frame = requestAnimationFrame(flush);
  }

  function push(line) {
    queue.push(line);
    if (queue.length > MAX_ROWS) {
      const over = queue.length - MAX_ROWS;
      queue.splice(0, over); // they would scroll out of the table before being seen anyway
      dropped += over;
      onDropped(dropped);
    }
    if (!frame) frame = requestAnimationFrame(flush);
  }

  (async () => {
    try {
      const resp = await fetch(`/api/v1/tail?${params({ q })}`, { signal: abort.signal, headers: { Accept: "text/event-stream" } });
      if (!resp.ok) {
        const body = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
        throw new ApiError(resp.status, body);
      }
      onOpen();
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let serverDropped = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + value, (event, data) => {
          if (event === "dropped") {
            const n = JSON.parse(data).dropped || 0;
            dropped += n - serverDropped;
            serverDropped = n;
            onDropped(dropped);
          } else push(JSON.parse(data));
        });
      }
      if (!abort.signal.aborted) onError(new Error("the live stream ended (server restarting?)"));
    } catch (err) {
      if (!abort.signal.aborted) onError(err);
    }
  })();

  return {
    stop() {
      abort.abort();
      if (frame) cancelAnimationFrame(frame);
      queue = [];
    },
  };
}
