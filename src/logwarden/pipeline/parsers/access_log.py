"""`nginx` and `apache`: web server access lines (combined or common format) into friendly fields.

One RE2 pass (`pc.extract_regex`) per batch; numbers and the time are converted column-wise.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from logwarden.pipeline.base import BuildEnv, Processed, Processor
from logwarden.pipeline.parsers.common import (
    ExtractingParserConfig,
    error_array,
    prefixed,
    read_source,
    set_outputs,
    struct_fields,
)
from logwarden.pipeline.parsers.numbers import to_float, to_int

_QUOTED = r'(?:[^"\\]|\\.)*'
_COMMON = (
    r"^(?P<client_ip>\S+) (?P<ident>\S+) (?P<remote_user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?:(?P<method>[A-Za-z][A-Za-z_-]*) (?P<path>(?:[^ "\\]|\\.)+)(?: HTTP/(?P<http_version>[0-9.]+))?'
    rf'|(?P<request>{_QUOTED}))" (?P<status>\d{{3}}|-) (?P<bytes>\d+|-)'
)
_COMBINED = rf'(?: "(?P<referrer>{_QUOTED})" "(?P<user_agent>{_QUOTED})")?'
# nginx formats often append `$request_time $upstream_response_time`, plain or as `rt=… urt=…`.
_NGINX_TIMES = (
    r'(?: (?:rt=|request_time=)?"?(?P<request_time>\d+(?:\.\d+)?)"?'
    r'(?: (?:(?:uct|uht)="?[^" ]*"? )*(?:urt=|upstream_time=|upstream_response_time=)?"?'
    r"(?P<upstream_time>\d+(?:\.\d+)?))?)?"
)
_PATTERNS = {
    ("nginx", "combined"): _COMMON + _COMBINED + _NGINX_TIMES,
    ("nginx", "common"): _COMMON,
    ("apache", "combined"): _COMMON + _COMBINED,
    ("apache", "common"): _COMMON,
}
_DASH_IS_NULL = ("ident", "remote_user", "referrer", "user_agent")
_HTTP_TIME = "%d/%b/%Y:%H:%M:%S %z"


class _AccessLogConfig(ExtractingParserConfig):
    format: Literal["combined", "common"] = "combined"
    """`combined` (default; also accepts common lines) or `common` (`%h %l %u %t "%r" %>s %b`)."""
    set_time: bool = True
    """Set the line's time (`ts`) from the bracketed request time."""

    def build(self, env: BuildEnv) -> Processor:
        return AccessLogParser(self, _PATTERNS[(self.type, self.format)])


class NginxConfig(_AccessLogConfig):
    """Parse nginx access lines into `client_ip remote_user method path http_version status bytes referrer
    user_agent` (+ `request_time`, `upstream_time` in seconds when the line ends with them); `-` values are
    left out; status and bytes are integers."""

    type: Literal["nginx"]


class ApacheConfig(_AccessLogConfig):
    """Parse Apache httpd access lines (combined or common) into the same fields as `nginx`."""

    type: Literal["apache"]


class AccessLogParser(Processor):
    def __init__(self, config: _AccessLogConfig, pattern: str) -> None:
        self.config = config
        self.pattern = pattern

    def process(self, batch: pa.Table) -> Processed:
        source = read_source(batch, self.config.field)
        if not source.any:
            return Processed(batch, error_array(self.config, source, None, ""))
        matched, groups = struct_fields(pc.extract_regex(source.text, self.pattern))
        for name in _DASH_IS_NULL:
            if name in groups:
                groups[name] = pc.if_else(pc.equal(groups[name], "-"), pa.scalar(None, pa.string()), groups[name])
        time = groups.pop("time")
        outputs: dict[str, pa.Array] = {}
        for name, values in groups.items():
            converted = (
                to_int(values)
                if name in ("status", "bytes")
                else to_float(values)
                if name in ("request_time", "upstream_time")
                else values
            )
            outputs[prefixed(self.config.target, name)] = converted
        batch = set_outputs(batch, outputs, matched, overwrite=self.config.overwrite)
        if self.config.set_time:
            ts = pc.strptime(time, _HTTP_TIME, "us", error_is_null=True)
            batch = set_outputs(batch, {"ts": ts}, matched)
        return Processed(
            batch,
            error_array(
                self.config, source, matched, f"not an access line in {self.config.type} {self.config.format} format"
            ),
        )


CONFIGS = (NginxConfig, ApacheConfig)
