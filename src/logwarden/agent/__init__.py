"""`logwarden agent`: tail log files and ship them to a logwarden server (the Filebeat/Promtail equivalent).

reader.py (main thread: discovery, tailing, lines, multiline, batches) → sender.py (thread: HTTP, retry,
spool, dead-letter, checkpoint commits). See docs/agent.md.
"""
