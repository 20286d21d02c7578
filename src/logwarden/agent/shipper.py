"""One POST /api/v1/ingest and what its answer means for the batch: done, retry, split, or dead-letter."""

from __future__ import annotations

import gzip
import ssl
from dataclasses import dataclass
from enum import Enum

import httpx
import orjson

from logwarden import __version__
from logwarden.agent.config import ClientTlsConfig, OutputConfig
from logwarden.config.loader import ConfigError

INGEST_PATH = "/api/v1/ingest"


class Verdict(Enum):
    STORED = "stored"  # 200: durable on the server
    RETRY = "retry"  # 429, 5xx, connection errors, timeouts: try again later
    TOO_LARGE = "too_large"  # 413: split the batch
    REFUSED = "refused"  # another 4xx: retrying will not help; dead-letter it


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    status: int | None = None  # HTTP status; None when no answer came
    reason: str = ""  # label for metrics ("connect", "timeout", "429", "503", ...)
    message: str = ""
    retry_after: float = 0.0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0


def gzip_bytes(data: bytes) -> bytes:
    # Level 1: several times faster than the default and only slightly larger on log text.
    return gzip.compress(data, compresslevel=1, mtime=0)


def client_ssl_context(tls: ClientTlsConfig) -> ssl.SSLContext:
    """Verifies the server against `tls.ca_file` (else the system CAs) and presents `tls.cert_file` (mTLS).
    ConfigError naming the setting when a file cannot be read or the key does not match the certificate."""
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    except OSError as exc:  # ssl.SSLError included
        raise ConfigError(f"output.tls.ca_file ({tls.ca_file}): {exc.strerror or exc}") from None
    if tls.cert_file is not None:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except OSError as exc:
            files = f"{tls.cert_file}" + (f", output.tls.key_file ({tls.key_file})" if tls.key_file else "")
            raise ConfigError(f"output.tls.cert_file ({files}): {exc.strerror or exc}") from None
    return ctx


class HttpShipper:
    """Sends NDJSON bodies to one server; thread-confined to the sender."""

    def __init__(self, config: OutputConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        headers = {"Content-Type": "application/x-ndjson", "User-Agent": f"logwarden-agent/{__version__}"}
        if config.tenant:
            headers["X-Scope-OrgID"] = config.tenant
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        self.url = config.url if config.url.endswith(INGEST_PATH) else config.url + INGEST_PATH
        self.timeout = httpx.Timeout(
            config.request_timeout.total_seconds(), connect=config.connect_timeout.total_seconds()
        )
        verify = client_ssl_context(config.tls) if config.url.startswith("https://") else True
        self._client = httpx.Client(headers=headers, timeout=self.timeout, transport=transport, verify=verify)

    def send(self, body: bytes, *, gzipped: bool, timeout: float | None = None) -> Outcome:
        headers = {"Content-Encoding": "gzip"} if gzipped else {}
        try:
            resp = self._client.post(
                self.url, content=body, headers=headers, timeout=self.timeout if timeout is None else timeout
            )
        except httpx.TimeoutException as exc:
            return Outcome(Verdict.RETRY, reason="timeout", message=f"{type(exc).__name__}: {exc}")
        except httpx.TransportError as exc:
            return Outcome(Verdict.RETRY, reason="connect", message=f"{type(exc).__name__}: {exc}")
        return classify(resp)

    def close(self) -> None:
        self._client.close()


def classify(resp: httpx.Response) -> Outcome:
    status = resp.status_code
    if status == 200:
        try:
            body = orjson.loads(resp.content)
            return Outcome(
                Verdict.STORED,
                status,
                accepted=int(body.get("accepted", 0)),
                rejected=int(body.get("rejected", 0)),
                duplicates=int(body.get("duplicates", 0)),
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return Outcome(Verdict.STORED, status)
    message = _error_message(resp)
    if status == 429 or status >= 500 or status == 408:
        return Outcome(Verdict.RETRY, status, str(status), message, _retry_after(resp))
    if status == 413:
        return Outcome(Verdict.TOO_LARGE, status, "413", message)
    return Outcome(Verdict.REFUSED, status, str(status), message)


def _retry_after(resp: httpx.Response) -> float:
    raw = resp.headers.get("retry-after", "")
    try:
        seconds = float(raw)
    except ValueError:
        return 0.0  # an HTTP date or garbage: fall back to our own backoff
    return min(seconds, 3600.0) if seconds > 0 else 0.0  # also maps NaN to 0


def _error_message(resp: httpx.Response) -> str:
    try:
        body = orjson.loads(resp.content)
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    except orjson.JSONDecodeError:
        pass
    return resp.text[:500]
