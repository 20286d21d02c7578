"""Syslog over UDP, TCP and TCP+TLS: RFC 5424 and RFC 3164 (with its real-world variants), RFC 6587 framing.

The settings are `config.sources.syslog` (config owns the shapes). `framing` cuts a TCP byte stream into
frames, `parser` turns a batch of frames into a record table in a few vectorized passes, `batcher` gathers
frames and sends them through the ingest sink, `udp` / `tcp` are the listeners, `sources` builds them from
a `type: syslog` entry and `metrics` counts what they do.
"""
