"""`user_agent`: browser, OS, device and bot flag from a User-Agent header, with ua-parser.

Parsing runs once per distinct user agent of a batch, and results are kept in an LRU across batches
(a site sees few distinct agents), so the cost per line is a dictionary lookup.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from logwarden.lazy import lazy_module
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorConfig
from logwarden.pipeline.enrich.lru import LruCache

if TYPE_CHECKING:
    import ua_parser
else:
    # ~2 MB resident: only a pipeline with a `user_agent` processor parses agents.
    ua_parser = lazy_module("ua_parser")

_OUTPUTS: dict[str, pa.DataType] = {
    "browser": pa.string(),
    "browser_version": pa.string(),
    "os": pa.string(),
    "os_version": pa.string(),
    "device": pa.string(),
    "is_bot": pa.bool_(),
}
_STRUCT = pa.struct(list(_OUTPUTS.items()))
# Automated clients ua-parser does not class as "Spider": crawlers, HTTP libraries, headless browsers.
BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrapy|facebookexternalhit|mediapartners|headless|phantomjs|"
    r"python-requests|python-urllib|aiohttp|httpx|curl/|wget/|go-http-client|okhttp|java/|apache-httpclient|"
    r"libwww-perl|axios/|node-fetch|\+https?://",
    re.IGNORECASE,
)

_parser_lock = threading.Lock()
_parsers: list[ua_parser.Parser] = []


def _shared_parser() -> ua_parser.Parser:
    """One parser for the process: loading ua-parser's regexes takes a while and uses memory."""
    with _parser_lock:
        if not _parsers:
            _parsers.append(ua_parser.Parser(ua_parser.BestAvailableResolver(ua_parser.load_lazy_builtins())))
        return _parsers[0]


class UserAgentConfig(ProcessorConfig):
    """Add `<target>browser`, `browser_version`, `os`, `os_version`, `device` and `is_bot` from a User-Agent."""

    type: Literal["user_agent"]
    field: str = "user_agent"
    """The field holding the User-Agent header (`agent` after the COMBINEDAPACHELOG grok pattern)."""
    target: str = "user_agent."
    """Prefix of the added fields (`user_agent.browser`, `user_agent.os`…); `ua_` gives `ua_browser`."""
    cache_size: int = Field(10_000, ge=0)
    """Distinct user agents whose results are remembered across batches."""

    def build(self, env: BuildEnv) -> Processor:
        return UserAgent(self.field, self.target, self.cache_size)


class UserAgent(Processor):
    def __init__(self, name: str, target: str, cache_size: int) -> None:
        self.name = name
        self.target = target
        self.parser = _shared_parser()
        self.cache: LruCache[str, dict[str, Any]] = LruCache(cache_size)

    def process(self, batch: pa.Table) -> Processed:
        values = fields.get_strings(batch, self.name)
        if values is None:
            return Processed(batch)
        parsed = fields.map_unique(values, self._parse_cached, _STRUCT)
        for output in _OUTPUTS:
            column = pc.struct_field(parsed, output)
            if column.null_count < len(column):
                batch = fields.set_field(batch, self.target + output, column, pc.is_valid(column))
        return Processed(batch)

    def _parse_cached(self, text: str) -> dict[str, Any] | None:
        if not text.strip() or text == "-":
            return None
        found = self.cache.get(text)
        if found is None:
            found = parse_user_agent(self.parser, text)
            self.cache.put(text, found)
        return found


def _version(*parts: str | None) -> str | None:
    present = []
    for part in parts:
        if part is None:
            break
        present.append(part)
    return ".".join(present) or None


def parse_user_agent(parser: ua_parser.Parser, text: str) -> dict[str, Any]:
    """The output fields for one User-Agent string."""
    result = parser.parse(text)
    ua, os, device = result.user_agent, result.os, result.device
    return {
        "browser": ua.family if ua else "Other",
        "browser_version": _version(ua.major, ua.minor, ua.patch) if ua else None,
        "os": os.family if os else "Other",
        "os_version": _version(os.major, os.minor, os.patch) if os else None,
        "device": device.family if device else "Other",
        "is_bot": bool((device and device.family == "Spider") or BOT_PATTERN.search(text)),
    }


CONFIGS = (UserAgentConfig,)
