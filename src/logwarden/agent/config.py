"""The agent's configuration (`logwarden agent --config agent.yaml`): inputs, output, spool, checkpoints.

Each field's docstring is its reference documentation (docs/agent.md is generated from them by
`python -m logwarden.agent.docs`). Parsed once into frozen models; an invalid file stops the agent at
start with the file, line and setting named.
"""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from logwarden.config.loader import ConfigError, read_yaml_mapping, validation_problems
from logwarden.model.schema import ALIAS_TO_FIELD
from logwarden.model.tenants import check_optional_tenant
from logwarden.model.units import ByteSize, Duration

# POSIX bracket classes (Filebeat and Go regexps accept them; Python's re does not).
_POSIX_CLASSES = {
    "[:alnum:]": r"0-9A-Za-z",
    "[:alpha:]": r"A-Za-z",
    "[:blank:]": r" \t",
    "[:cntrl:]": r"\x00-\x1f\x7f",
    "[:digit:]": r"0-9",
    "[:graph:]": r"!-~",
    "[:lower:]": r"a-z",
    "[:print:]": r" -~",
    "[:punct:]": r"!-/:-@\[-`{-~",
    "[:space:]": r"\s",
    "[:upper:]": r"A-Z",
    "[:word:]": r"\w",
    "[:xdigit:]": r"0-9A-Fa-f",
}
_POSIX_RE = re.compile("|".join(re.escape(k) for k in _POSIX_CLASSES))


def translate_posix_classes(pattern: str) -> str:
    """`[[:space:]]+` → `[\\s]+`: POSIX classes inside brackets, rewritten for Python's re."""
    return _POSIX_RE.sub(lambda m: _POSIX_CLASSES[m.group(0)], pattern)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(translate_posix_classes(pattern))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class MultilineConfig(_Frozen):
    """Join several lines into one event (Filebeat semantics), e.g. a Java stack trace under its log line."""

    pattern: str
    """Regular expression tested against each line (Python syntax; POSIX classes such as `[[:space:]]` work too).
    Java stack traces: `^[[:space:]]+(at|\\.{3})\\b|^Caused by:`."""
    negate: bool = False
    """Invert the pattern: lines that do NOT match it are the ones joined."""
    match: Literal["after", "before"] = "after"
    """`after`: joined lines are appended to the line before them (the usual choice); `before`: they are
    prepended to the next line that is not joined."""
    max_lines: int = Field(500, ge=1)
    """Most lines in one event; the next line starts a new event (nothing is dropped)."""
    timeout: Duration = timedelta(seconds=5)
    """An unfinished event is sent once no line has been added to it for this long."""

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, v: str) -> str:
        try:
            compile_pattern(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {v!r}: {exc}") from None
        return v


class RawParser(_Frozen):
    """Send each line (or multiline event) as the message, with the input's labels."""

    type: Literal["raw"] = "raw"
    """`raw`: the line is the message."""


class JsonParser(_Frozen):
    """Parse each line as a JSON object whose fields become the record (ts, level, msg, service, host, attrs)."""

    type: Literal["json"] = "json"
    """`json`: a line that is not a JSON object is sent as raw text with `attrs.parse_error`. The line's own
    fields win over the input's labels; a `log_id` field in the line is kept as `attrs.line_log_id`."""


def _parser_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


Parser = Annotated[RawParser | JsonParser, Field(discriminator="type"), BeforeValidator(_parser_shorthand)]


class FileInput(_Frozen):
    """Files to tail, selected by glob patterns, with the labels their lines get."""

    type: Literal["file"] = "file"
    """Input kind; `file` is the only one so far."""
    paths: tuple[str, ...] = Field(min_length=1)
    """Glob patterns of files to read (`*`, `?`, `[abc]`, and `**` for any depth). Include the names
    rotated files get (`/var/log/app.log*`) so lines written just before a rotation are never missed."""
    exclude: tuple[str, ...] = ()
    """Glob patterns of files to skip, matched against the full path and against the file name (`*.gz`)."""
    service: str | None = None
    """`service` of every line (a JSON line's own service field wins)."""
    host: str | None = None
    """`host` of every line; default: the agent's `hostname`."""
    attrs: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra static fields added to every line (stored as attrs)."""
    parser: Parser = RawParser()
    """How a line becomes a record: `raw` (default) or `json` (also written `{type: json}`)."""
    multiline: MultilineConfig | None = None
    """Join continuation lines into one event (unset: every line is an event)."""
    start_at: Literal["beginning", "end"] = "beginning"
    """Where to start in a file found at the agent's first scan with no checkpoint: `beginning` or `end`
    (skip what is already there). Files that appear later are always read from the beginning."""
    max_line_bytes: ByteSize = 256 * 1024
    """Longest line (and multiline event) sent; a longer one is cut there and gets `attrs.truncated = true`."""
    partial_line_timeout: Duration = timedelta(seconds=5)
    """A last line without a newline is sent once the file has not grown for this long."""
    close_removed_after: Duration = timedelta(seconds=5)
    """A file renamed away from the globs or deleted is read to its end through the open handle, and closed
    once it has not grown for this long."""
    file_attr: str | None = "file"
    """Name of the attribute holding the path each line was read from; null leaves it out."""

    @field_validator("paths", "exclude")
    @classmethod
    def _non_empty_patterns(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not p.strip() for p in v):
            raise ValueError("glob patterns cannot be empty")
        return v

    @field_validator("attrs")
    @classmethod
    def _not_core_fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if key in ALIAS_TO_FIELD:
                raise ValueError(f"{key!r} is a core field, not an attribute: set it on the input (service, host)")
        return v


class BatchConfig(_Frozen):
    """When a batch of lines is sent: whichever limit is reached first."""

    max_lines: int = Field(5000, ge=1)
    """Most lines in one request."""
    max_bytes: ByteSize = 2 * 1024**2
    """Most NDJSON bytes (before gzip) in one request; keep it below the server's ingest.max_body_bytes."""
    max_wait: Duration = timedelta(seconds=1)
    """Longest time a line waits for its batch to fill before the batch is sent anyway."""


class RetryConfig(_Frozen):
    """Exponential backoff with full jitter: wait n is random in [0, min(max_delay, initial_delay·multiplier^n)]."""

    initial_delay: Duration = timedelta(milliseconds=500)
    """Upper bound of the first wait."""
    max_delay: Duration = timedelta(seconds=30)
    """Upper bound of any wait (a longer Retry-After from the server is honoured)."""
    multiplier: float = Field(2.0, ge=1.0)
    """Growth of the bound per failed attempt."""


class ClientTlsConfig(_Frozen):
    """How the agent checks the server's certificate and proves itself with its own (mTLS)."""

    ca_file: Path | None = None
    """PEM bundle of the CAs that sign the server's certificate; unset: the system's trusted CAs."""
    cert_file: Path | None = None
    """PEM client certificate (chain) sent to a server with `http.tls.client_auth` set."""
    key_file: Path | None = None
    """PEM private key of `cert_file`; unset: the key is in `cert_file`."""

    @model_validator(mode="after")
    def _key_needs_cert(self) -> ClientTlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file: needs cert_file")
        return self


class OutputConfig(_Frozen):
    """The logwarden server the lines go to (POST /api/v1/ingest)."""

    url: str
    """Base URL of the server, e.g. `http://logwarden:8080`."""
    tenant: str | None = None
    """Tenant sent as X-Scope-OrgID; unset: the server's default tenant."""
    token: SecretStr | None = None
    """Bearer token sent as `Authorization: Bearer ...`."""
    gzip: bool = True
    """Compress request bodies (Content-Encoding: gzip)."""
    batch: BatchConfig = BatchConfig()
    connect_timeout: Duration = timedelta(seconds=5)
    """Time allowed to open a connection to the server."""
    request_timeout: Duration = timedelta(seconds=30)
    """Time allowed for one request, from sending to the answer (the server answers once lines are durable)."""
    retry: RetryConfig = RetryConfig()
    tls: ClientTlsConfig = ClientTlsConfig()
    """Server CA and client certificate for an `https://` URL."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"invalid URL {v!r}: use http://host:port or https://host:port")
        return v.rstrip("/")

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, v: str | None) -> str | None:
        return check_optional_tenant(v)


class SpoolConfig(_Frozen):
    """Batches the server could not take yet wait here on disk (gzip NDJSON), replayed in order."""

    dir: Path | None = None
    """Spool directory; default `<data_dir>/spool`."""
    max_bytes: ByteSize = 1024**3
    """Most bytes (compressed) in the spool. When it is full the agent stops reading files: the lines wait
    in the files, nothing is lost (unless `when_full: drop`)."""
    when_full: Literal["block", "drop"] = "block"
    """`block`: pause reading until the server takes batches again. `drop`: discard new batches (counted in
    logwarden_agent_dropped_lines_total{reason="spool_full"}) to keep up with fresh lines."""


class CheckpointConfig(_Frozen):
    """Where the agent remembers, per file, how far the server has the lines."""

    path: Path | None = None
    """Checkpoint file (written atomically after every batch the server acknowledged or the spool holds);
    default `<data_dir>/checkpoints.json`."""


class MetricsConfig(_Frozen):
    """The agent's own Prometheus endpoint."""

    host: str = "127.0.0.1"
    """Address the /metrics endpoint binds to."""
    port: int | None = Field(9180, ge=0, le=65535)
    """Port of the /metrics endpoint; null disables it."""


class TailConfig(_Frozen):
    """How files are watched (portable polling, no inotify)."""

    poll_interval: Duration = timedelta(milliseconds=250)
    """How often open files are checked for new data when all of them are at their end."""
    scan_interval: Duration = timedelta(seconds=2)
    """How often the globs are expanded again to find new, renamed and deleted files."""
    read_chunk_bytes: ByteSize = 1024**2
    """Size of one read from a file."""
    max_bytes_per_turn: ByteSize = 8 * 1024**2
    """Most bytes read from one file before the others get their turn."""


class AgentConfig(_Frozen):
    """The whole agent configuration."""

    id: str | None = None
    """Stable name of this agent, part of every stream id; default: the hostname."""
    hostname: str | None = None
    """Default `host` of every line; default: the machine's hostname."""
    data_dir: Path = Path("./logwarden-agent")
    """Directory of the checkpoint file, the spool and the dead-letter files (unless set separately)."""
    inputs: tuple[FileInput, ...] = Field(min_length=1)
    """What to read: a list of inputs (`type: file`)."""
    output: OutputConfig
    spool: SpoolConfig = SpoolConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    metrics: MetricsConfig = MetricsConfig()
    tail: TailConfig = TailConfig()
    queue_batches: int = Field(4, ge=1)
    """Sealed batches held in memory between the reader and the sender before batches go to the spool."""
    shutdown_timeout: Duration = timedelta(seconds=10)
    """On SIGTERM, time allowed to send (or spool) what was read; the rest is read again at the next start."""
    log_level: str = "info"
    """The agent's own log level (debug, info, warning, error)."""

    @model_validator(mode="after")
    def _spool_holds_a_batch(self) -> AgentConfig:
        if self.spool.max_bytes < self.output.batch.max_bytes:
            raise ValueError(
                f"spool.max_bytes ({self.spool.max_bytes}) must be at least output.batch.max_bytes "
                f"({self.output.batch.max_bytes}) so that a batch fits in the spool"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("use debug, info, warning or error")
        return v.lower()

    @property
    def agent_id(self) -> str:
        return self.id or socket.gethostname()

    @property
    def default_host(self) -> str:
        return self.hostname or socket.gethostname()

    @property
    def spool_dir(self) -> Path:
        return self.spool.dir or self.data_dir / "spool"

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint.path or self.data_dir / "checkpoints.json"

    @property
    def dead_letter_dir(self) -> Path:
        return self.data_dir / "dead-letter"


def load_agent_config(path: str | Path) -> AgentConfig:
    """Parse agent.yaml; ConfigError names the file, line and setting of every problem."""
    data, root = read_yaml_mapping(path, "the agent config")
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, str(path), root)
        raise ConfigError("invalid agent configuration:\n  " + "\n  ".join(problems)) from None
