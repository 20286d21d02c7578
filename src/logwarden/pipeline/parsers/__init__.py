"""Parsers: turn a text field (usually the message) into fields — json, logfmt, kv, regex, grok, nginx/apache
access logs, csv/dissect, multiline folding and timestamps. Reference: docs/pipeline-parsers.md."""

from __future__ import annotations

from logwarden.pipeline.base import ProcessorConfig
from logwarden.pipeline.parsers import (
    access_log,
    delimited,
    grok,
    json_parser,
    kv,
    logfmt,
    multiline,
    regex,
    timestamp,
)

CONFIGS: tuple[type[ProcessorConfig], ...] = (
    *json_parser.CONFIGS,
    *logfmt.CONFIGS,
    *kv.CONFIGS,
    *regex.CONFIGS,
    *grok.CONFIGS,
    *access_log.CONFIGS,
    *delimited.CONFIGS,
    *multiline.CONFIGS,
    *timestamp.CONFIGS,
)

__all__ = ["CONFIGS"]
