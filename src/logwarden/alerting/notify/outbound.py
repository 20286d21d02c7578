"""The outbound guard for tenants' receivers (SSRF): a tenant admin's receiver URL is a request this server makes,
so destinations in internal ranges (loopback, private, shared, link-local with the cloud metadata address,
unspecified, reserved, multicast) are refused unless the operator allows them
(`alerting.tenant_configs.allow_hosts`). The operator's config file is trusted and never checked.

Checked twice: when a tenant sets its config (a literal address or a non-http(s) scheme is a 400 naming the
field) and at every connection, on the resolved address (DNS can change between the two): `guarded_client`'s
transport resolves the host, checks every address and connects to an allowed one, so the check and the
connection see the same address. TLS still verifies (and sends SNI for) the URL's host name. Email receivers
connect the same way: the email notifier asks the tenants' client (`GuardedClient.resolve_address`) for the
checked address of its SMTP host and connects to it (STARTTLS and TLS verify the configured host name), so one
`allow_hosts` reload applies to every channel.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from pydantic import BaseModel

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SETTING = "alerting.tenant_configs.allow_hosts"
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; some clouds' metadata lives there
_HOST_FIELDS = ("host",)  # channels that name a server rather than a URL (email's SMTP host)


class OutboundError(httpcore.ConnectError, OSError):
    """A tenant receiver's destination cannot be connected to: an httpcore error (HTTP notifiers report it as a
    failed attempt with this message) and an OSError (so does the email notifier, as for any connection error)."""


class OutboundRefusedError(OutboundError):
    """A tenant receiver's destination is in a refused range."""


def parse_allowed(entry: str) -> IpNetwork | str:
    """An `allow_hosts` entry as a network (`10.2.0.0/16`, a bare address is a /32 or /128) or a lower-case host
    name; ValueError saying what is wrong."""
    text = entry.strip()
    if not text:
        raise ValueError("an empty entry (write a host name or a network such as 10.2.0.0/16)")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    if "/" in text or ":" in text or " " in text:
        raise ValueError(f"{entry!r}: neither a host name nor a network such as 10.2.0.0/16")
    return text.lower().rstrip(".")


def refused_range(address: IpAddress) -> str | None:
    """Why `address` is refused (`loopback`, `private`, …), None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("shared", address in _SHARED),
        ("reserved", address.is_reserved),
    )
    return next((name for name, hit in checks if hit), None)


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """The operator's exceptions: host names and networks tenants' receivers may reach anyway."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_hosts: list[str]) -> OutboundPolicy:
        """The policy of `alerting.tenant_configs.allow_hosts` (validated by the config model)."""
        parsed = [parse_allowed(e) for e in allow_hosts]
        return cls(
            frozenset(p for p in parsed if isinstance(p, str)), tuple(p for p in parsed if not isinstance(p, str))
        )

    def host_allowed(self, host: str) -> bool:
        """Whether the operator allowed `host` by name."""
        return host.lower().rstrip(".") in self.hosts

    def address_refusal(self, address: IpAddress) -> str | None:
        """Why a connection to `address` is refused, None when it may be made."""
        why = refused_range(address)
        if why is None or any(address in n for n in self.networks if n.version == address.version):
            return None
        return f"{address} is a {why} address"

    def check_url(self, url: str, field: str) -> None:
        """Refuse (ValueError naming `field`) a URL that is not http(s) or names a refused address literally."""
        try:
            parsed = httpx.URL(url)
        except Exception:
            raise ValueError(f"{field}: not a URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"{field}: a tenant's receiver must use an http:// or https:// URL")
        self.check_host(parsed.host, field)

    def check_host(self, host: str, field: str) -> None:
        """Refuse (ValueError naming `field`) a host that is a refused address written literally (names are
        checked when connecting, on the address they resolve to then)."""
        if self.host_allowed(host):
            return
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return
        why = self.address_refusal(address)
        if why is not None:
            raise ValueError(
                f"{field}: {why}; tenants' receivers may not reach it (the operator may allow it: {SETTING})"
            )

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to for `host`: its first resolved address that may be reached; OutboundRefusedError
        naming the host and why when none may."""
        if self.host_allowed(host):
            return host
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise OutboundError(f"cannot resolve {host}: {exc}") from None
        reasons = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            why = self.address_refusal(address)
            if why is None:
                return str(address)
            reasons.append(why)
        shown = "; ".join(dict.fromkeys(reasons)) or "no address"
        raise OutboundRefusedError(
            f"refused: {host} resolves to {shown}, which tenants' receivers may not reach"
            f" (the operator may allow it: {SETTING})"
        )


def check_config_destinations(receivers: list[Any], policy: OutboundPolicy) -> None:
    """Refuse (ValueError naming the field: `receivers.0.webhook.0.url`) a tenant receiver whose URL is not
    http(s) or names a refused address literally."""
    from logwarden.alerting.config import integrations

    for r, receiver in enumerate(receivers):
        seen: dict[str, int] = {}
        for kind, config in integrations(receiver):
            index = seen[kind] = seen.get(kind, -1) + 1
            for field, value in _destinations(config, f"receivers.{r}.{kind}.{index}"):
                if field.rsplit(".", 1)[-1] in _HOST_FIELDS:
                    policy.check_host(value, field)
                else:
                    policy.check_url(value, field)


def _destinations(config: BaseModel, where: str) -> Iterator[tuple[str, str]]:
    """The destinations an integration's settings name: fields called `*url` / `*urls` (secret or not, nested
    settings too) and `host`."""
    for name in type(config).model_fields:
        value = getattr(config, name)
        field = f"{where}.{name}"
        if isinstance(value, BaseModel):
            yield from _destinations(value, field)
        elif name.endswith("urls") and isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield f"{field}.{i}", _text(item)
        elif (name.endswith("url") or name in _HOST_FIELDS) and value is not None:
            yield field, _text(value)


def _text(value: Any) -> str:
    return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks and connects to the checked address (one resolution: no window for DNS rebinding)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy  # replaced whole when the operator's setting is reloaded

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        address = self.policy.resolve(host, port)
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


class GuardedClient(httpx.Client):
    """The HTTP client of tenants' receivers (made by `guarded_client`); `resolve_address` lets a channel that does
    not speak HTTP (email) connect under the same, live, policy."""

    def resolve_address(self, host: str, port: int) -> str:
        """The checked address to connect to for `host` (OutboundError when it is refused or does not resolve)."""
        backend = _backend(self)
        if backend is None:  # not built by `guarded_client`: refuse rather than connect unchecked
            raise OutboundError(f"{host}: no outbound policy to check it with")
        return backend.policy.resolve(host, port)


def guarded_client(policy: OutboundPolicy) -> GuardedClient:
    """An HTTP client for tenants' receivers: every connection checked by `policy` on its resolved address; no
    redirects, no proxies from the environment (a proxy would make the check moot). `set_policy` updates it."""
    transport = httpx.HTTPTransport(trust_env=False)
    backend = _GuardedBackend(policy)
    # httpx has no public hook for the network backend: swap its pool for one with the same TLS context.
    old = transport._pool
    transport._pool = httpcore.ConnectionPool(
        ssl_context=old._ssl_context,
        max_connections=old._max_connections,
        max_keepalive_connections=old._max_keepalive_connections,
        keepalive_expiry=old._keepalive_expiry,
        network_backend=backend,
    )
    old.close()
    return GuardedClient(transport=transport, follow_redirects=False, trust_env=False)


def set_policy(client: httpx.Client, policy: OutboundPolicy) -> None:
    """Apply a reloaded `allow_hosts` to a client made by `guarded_client` (from its next connection)."""
    backend = _backend(client)
    if backend is not None:
        backend.policy = policy


def _backend(client: httpx.Client) -> _GuardedBackend | None:
    backend = getattr(getattr(client._transport, "_pool", None), "_network_backend", None)
    return backend if isinstance(backend, _GuardedBackend) else None
