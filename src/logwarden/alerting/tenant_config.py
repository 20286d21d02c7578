"""Per-tenant alerting configuration, the Mimir / Cortex multi-tenant Alertmanager way.

A tenant may have its own routing tree, receivers, inhibition rules and time intervals (the four tenant-owned keys
of the `alerting:` section, validated by the same model), stored in the metadata database (`alerting_configs`,
one row per tenant with a version). A tenant without one uses the config file's `alerting:` section: the
operator's file is the default for every tenant. Server-wide settings (`delivery`, `external_url`,
`silence_retention`, `max_alerts_per_notification`) stay the operator's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from logwarden.alerting.config import AlertingConfig, integrations
from logwarden.alerting.notify.outbound import OutboundPolicy, check_config_destinations
from logwarden.meta.tables import alerting_configs

TENANT_KEYS = ("route", "receivers", "inhibit_rules", "time_intervals")  # what a tenant may set
REDACTED = "**********"  # pydantic's SecretStr in JSON: what GET shows for a secret
MAX_CONFIG_BYTES = 1 << 20  # a config body larger than this is refused (413 would be wrong: it is a setting)


class TenantConfigError(ValueError):
    """A tenant's alerting configuration does not load; the message names the field (`route.receiver: …`)."""

    def __init__(self, message: str) -> None:
        # Field names come from the request: never let one make the error unprintable (lone surrogates).
        super().__init__(message.encode("utf-8", "backslashreplace").decode("utf-8"))


@dataclass(frozen=True, slots=True)
class StoredTenantConfig:
    """A tenant's stored configuration: the raw object as given (secrets included) and its parsed form."""

    tenant: str
    raw: dict[str, Any]
    config: AlertingConfig  # the file's server-wide settings with the tenant's four keys
    version: int
    updated_by: str
    updated_at: datetime


def parse_body(body: bytes) -> dict[str, Any]:
    """A PUT body (YAML or JSON: JSON is YAML) as an object; TenantConfigError saying what is wrong."""
    if len(body) > MAX_CONFIG_BYTES:
        raise TenantConfigError(f"config too large: {len(body)} bytes (at most {MAX_CONFIG_BYTES})")
    try:
        data = orjson.loads(body)  # JSON first: it joins escaped surrogate pairs, YAML does not
    except orjson.JSONDecodeError:
        data = _yaml(body)
    if not isinstance(data, dict):
        raise TenantConfigError("config must be an object with route, receivers, inhibit_rules, time_intervals")
    try:
        orjson.dumps(data)  # what is stored: text that is not valid Unicode (lone surrogates) is refused here
    except TypeError:
        raise TenantConfigError("config holds text that is not valid Unicode (a lone surrogate escape)") from None
    if "alerting" in data and len(data) == 1 and isinstance(data["alerting"], dict):
        data = data["alerting"]  # the config file's section pasted whole
    return data


def _yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(body.decode("utf-8")) if body.strip() else None
    except UnicodeDecodeError:
        raise TenantConfigError("config must be UTF-8 text (YAML or JSON)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise TenantConfigError(f"config is not valid YAML or JSON{where}: {getattr(exc, 'problem', exc)}") from None


def validate_tenant_config(
    raw: Mapping[str, Any], base: AlertingConfig, *, check_destinations: bool = True
) -> AlertingConfig:
    """The effective config of a tenant that set `raw`: `base`'s server-wide settings with the tenant's route,
    receivers, inhibition rules and time intervals, validated like the config file's section; with
    `check_destinations`, receivers' URLs must be http(s) and not name a refused address (the outbound guard,
    alerting/notify/outbound.py, which checks again at every connection)."""
    for key in raw:
        if key not in TENANT_KEYS:
            if key in AlertingConfig.model_fields:
                raise TenantConfigError(f"{key}: a server-wide setting, set in the config file's alerting: section")
            raise TenantConfigError(f"{key}: unknown setting (a tenant sets {', '.join(TENANT_KEYS)})")
    redaction = _find_redaction(raw, "")
    if redaction is not None:
        raise TenantConfigError(f"{redaction}: {REDACTED} is how GET hides a secret; send the secret itself")
    try:
        own = AlertingConfig.model_validate({k: raw[k] for k in TENANT_KEYS if k in raw})
    except ValidationError as exc:
        raise TenantConfigError(_first_error(exc)) from None
    if check_destinations:
        try:
            check_config_destinations(own.receivers, OutboundPolicy.from_settings(base.tenant_configs.allow_hosts))
        except ValueError as exc:
            raise TenantConfigError(str(exc)) from None
    return base.model_copy(update={k: getattr(own, k) for k in TENANT_KEYS})


def _find_redaction(value: Any, where: str) -> str | None:
    """The path of a value that is the redaction marker (a GET's answer sent back), None without one."""
    if value == REDACTED:
        return where or "config"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _find_redaction(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def keep_secrets(raw: dict[str, Any], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """`raw` with each `**********` in a receiver's integration (a GET's answer sent back) replaced by the stored
    secret at the same place (same receiver name, channel, index and key: Grafana's behaviour). TenantConfigError
    naming the field when there is none, or when the integration's destination changed (a kept secret goes only
    where it went before: it is not sent to a URL the sender of the PUT chose)."""
    receivers = raw.get("receivers")
    if not isinstance(receivers, list):
        return raw
    old = {r.get("name"): r for r in (stored or {}).get("receivers", []) if isinstance(r, dict)}
    out = []
    for r, receiver in enumerate(receivers):
        if not isinstance(receiver, dict):
            out.append(receiver)
            continue
        before = old.get(receiver.get("name"))
        kept = dict(receiver)
        for kind, value in receiver.items():
            if kind == "name" or not isinstance(value, dict | list):
                continue
            items = value if isinstance(value, list) else [value]
            previous = _as_list(before.get(kind) if before is not None else None)
            restored = [
                _keep_in_integration(item, previous[i] if i < len(previous) else None, f"receivers.{r}.{kind}.{i}")
                for i, item in enumerate(items)
            ]
            kept[kind] = restored if isinstance(value, list) else restored[0]
        out.append(kept)
    return {**raw, "receivers": out}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _keep_in_integration(item: Any, stored: Any, where: str) -> Any:
    if _find_redaction(item, "") is None:
        return item
    if not isinstance(stored, dict):
        path = _find_redaction(item, where)
        raise TenantConfigError(
            f"{path}: {REDACTED} keeps the stored secret, but the tenant's stored config has no such receiver"
            " and integration (same name, channel and position); send the secret itself"
        )
    restored, first_kept = _restore(item, stored, where)
    moved = sorted(k for k, v in _destination_fields(restored).items() if _destination_fields(stored).get(k) != v)
    if first_kept is not None and moved:
        raise TenantConfigError(
            f"{first_kept}: {REDACTED} keeps the stored secret only where it was sent before, and"
            f" {where}.{moved[0]} changed; send the secret itself"
        )
    return restored


def _restore(value: Any, stored: Any, where: str) -> tuple[Any, str | None]:
    """`value` with markers replaced from `stored` (same keys); the path of the first marker replaced."""
    if value == REDACTED:
        if stored is None or stored == REDACTED:
            raise TenantConfigError(
                f"{where}: {REDACTED} keeps the stored secret, but there is none stored there; send the secret itself"
            )
        return stored, where
    first: str | None = None
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            old = stored.get(key) if isinstance(stored, dict) else None
            out[key], kept = _restore(item, old, f"{where}.{key}")
            first = first or kept
        return out, first
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            old = stored[i] if isinstance(stored, list) and i < len(stored) else None
            restored, kept = _restore(item, old, f"{where}.{i}")
            items.append(restored)
            first = first or kept
        return items, first
    return value, None


def _destination_fields(value: Any, where: str = "") -> dict[str, Any]:
    """An integration's destinations by path (keys `*url`, `*urls`, `host`), to see whether one changed."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key).endswith(("url", "urls")) or key == "host":
                out[path] = item
            elif isinstance(item, dict):
                out |= _destination_fields(item, path)
    return out


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


def redacted(config: AlertingConfig) -> dict[str, Any]:
    """The tenant-owned keys of `config` as JSON, secrets replaced by `**********` (what GET shows)."""
    out = config.model_dump(mode="json", by_alias=True, include=set(TENANT_KEYS), exclude_none=True)
    out["receivers"] = [_receiver_json(r) for r in config.receivers]
    return out


def _receiver_json(receiver: BaseModel) -> dict[str, Any]:
    # Only the channels the receiver uses, not an empty list per known channel.
    data = receiver.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {k: v for k, v in data.items() if k == "name" or v}


def receiver_changes(old: AlertingConfig | None, new: AlertingConfig | None) -> dict[str, Any]:
    """Receiver names added, removed and changed between two configs (for the audit log: names only, never
    settings, which hold secrets)."""
    before = {r.name: _fingerprint(r) for r in (old.receivers if old is not None else [])}  # type: ignore[attr-defined]
    after = {r.name: _fingerprint(r) for r in (new.receivers if new is not None else [])}  # type: ignore[attr-defined]
    return {
        "receivers_added": sorted(after.keys() - before.keys()),
        "receivers_removed": sorted(before.keys() - after.keys()),
        "receivers_changed": sorted(n for n in before.keys() & after.keys() if before[n] != after[n]),
    }


def _fingerprint(receiver: BaseModel) -> bytes:
    # Secrets in clear, so a changed token counts as a change; compared in memory, never stored or shown.
    return orjson.dumps(
        [(kind, _reveal(c.model_dump(mode="python"))) for kind, c in integrations(receiver)],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )


def _reveal(value: Any) -> Any:
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


class TenantConfigStore:
    """The `alerting_configs` table (blocking: run in the metadata pool)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, tenant: str, base: AlertingConfig) -> StoredTenantConfig | None:
        """The tenant's stored config (parsed on `base`), None when it uses the file's."""
        c = alerting_configs.c
        with self.engine.connect() as con:
            row = con.execute(select(alerting_configs).where(c.tenant == tenant)).first()
        return self._parse(row, base) if row is not None else None

    def versions(self) -> dict[str, int]:
        """Every tenant with its own config → its version (cheap: to see what changed)."""
        c = alerting_configs.c
        with self.engine.connect() as con:
            return {r[0]: int(r[1]) for r in con.execute(select(c.tenant, c.version))}

    def all(self, base: AlertingConfig) -> dict[str, StoredTenantConfig]:
        """Every tenant's stored config. One that no longer loads on `base` (a server-wide setting changed under
        it) is skipped: that tenant falls back to the file until its config is fixed."""
        with self.engine.connect() as con:
            rows = list(con.execute(select(alerting_configs)))
        out: dict[str, StoredTenantConfig] = {}
        for row in rows:
            try:
                out[row.tenant] = self._parse(row, base)
            except TenantConfigError:
                continue
        return out

    def put(self, tenant: str, raw: Mapping[str, Any], by: str, now: datetime) -> int:
        """Store `raw` (already validated) as the tenant's config; the new version."""
        try:
            return self._put(tenant, raw, by, now)
        except IntegrityError:  # two first PUTs at once: the other inserted; this one updates
            return self._put(tenant, raw, by, now)

    def _put(self, tenant: str, raw: Mapping[str, Any], by: str, now: datetime) -> int:
        c = alerting_configs.c
        text = orjson.dumps(dict(raw), default=str).decode()
        with self.engine.begin() as con:
            version = con.execute(select(c.version).where(c.tenant == tenant)).scalar()
            if version is None:
                con.execute(
                    insert(alerting_configs).values(
                        tenant=tenant, config=text, version=1, updated_by=by, updated_at=now
                    )
                )
                return 1
            con.execute(
                update(alerting_configs)
                .where(c.tenant == tenant)
                .values(config=text, version=version + 1, updated_by=by, updated_at=now)
            )
            return int(version) + 1

    def delete(self, tenant: str) -> bool:
        """Remove the tenant's config (it uses the file's again); whether it had one."""
        with self.engine.begin() as con:
            return con.execute(delete(alerting_configs).where(alerting_configs.c.tenant == tenant)).rowcount > 0

    @staticmethod
    def _parse(row: Any, base: AlertingConfig) -> StoredTenantConfig:
        raw = orjson.loads(row.config)
        at = row.updated_at if row.updated_at.tzinfo is not None else row.updated_at.replace(tzinfo=UTC)
        # Stored configs are not re-checked: one the operator's setting no longer allows is refused when sending.
        return StoredTenantConfig(
            row.tenant,
            raw,
            validate_tenant_config(raw, base, check_destinations=False),
            int(row.version),
            row.updated_by,
            at,
        )
