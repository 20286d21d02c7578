"""Syslog over UDP, TCP and TCP+TLS: RFC 5424 and RFC 3164 (with its real-world variants), RFC 6587 framing.

`config` holds the settings, `framing` cuts a TCP byte stream into frames, `parser` turns a batch of
frames into a record table in a few vectorized passes, `batcher` gathers frames and sends them through
the ingest sink, and `udp` / `tcp` are the listeners `build_sources` starts.
"""
