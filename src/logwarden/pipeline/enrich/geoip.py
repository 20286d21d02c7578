"""`geoip`: country, city, region, coordinates, time zone and AS of an IP address from MaxMind `.mmdb` files.

Lookups run once per distinct address of a batch (`map_unique`). Private, loopback and other
non-public addresses, and text that is not an address, get no fields (an error only when asked).
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import maxminddb
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.model.units import Duration
from logwarden.pipeline import fields
from logwarden.pipeline.base import BuildEnv, Processed, Processor, ProcessorBuildError, ProcessorConfig
from logwarden.pipeline.enrich.lru import LruCache
from logwarden.pipeline.enrich.reloading import ReloadingFile

GeoOutput = Literal[
    "country_code", "country_name", "city", "region", "latitude", "longitude", "timezone", "asn", "as_org"
]
_TYPES: dict[str, pa.DataType] = {
    "country_code": pa.string(),
    "country_name": pa.string(),
    "city": pa.string(),
    "region": pa.string(),
    "latitude": pa.float64(),
    "longitude": pa.float64(),
    "timezone": pa.string(),
    "asn": pa.int64(),
    "as_org": pa.string(),
}
_ASN_OUTPUTS = frozenset({"asn", "as_org"})
_INVALID = "_invalid"
# Non-public IPv4 ranges (private, loopback, link-local, CGNAT, multicast, reserved): no lookup needed.
_PRIVATE_V4 = (
    r"^\s*(?:0|10|127|22[4-9]|2[3-5]\d)\.|^\s*(?:169\.254|192\.168|172\.(?:1[6-9]|2\d|3[01])"
    r"|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])|192\.0\.[02]|198\.1[89]|198\.51\.100|203\.0\.113)\."
)


class GeoipConfig(ProcessorConfig):
    """Add `<target>.country_code`, `.country_name`, `.city`, `.region`, `.latitude`, `.longitude`, `.timezone`
    (and `.asn`, `.as_org` with `asn_database`) for the IP address in `field`."""

    type: Literal["geoip"]
    field: str = "client_ip"
    """The field holding the IP address (IPv4 or IPv6 text)."""
    database: Path
    """A MaxMind City (or Country) database, e.g. `GeoLite2-City.mmdb`; relative to the config file's directory.
    Reopened when the file changes."""
    asn_database: Path | None = None
    """A MaxMind ASN database (`GeoLite2-ASN.mmdb`) for `asn` and `as_org`."""
    target: str = "geo"
    """Prefix of the added fields: `geo` gives `geo.country_code`, `geo.city`…"""
    outputs: list[GeoOutput] | None = None
    """Only add these fields (default: all the databases provide)."""
    language: str = "en"
    """Language of country, city and region names (a language the database has, e.g. `de`, `fr`)."""
    on_invalid: Literal["ignore", "error"] = "ignore"
    """A value that is not an IP address adds no fields (ignore) or is an error for its line (error).
    Private and reserved addresses never get fields and are never errors."""
    reload_check: Duration = timedelta(seconds=5)
    """How often, at most, the database files' modification times are checked."""

    def build(self, env: BuildEnv) -> Processor:
        wanted: list[str] = list(self.outputs) if self.outputs else list(_TYPES)
        if self.asn_database is None:
            if self.outputs and set(self.outputs) & _ASN_OUTPUTS:
                raise ProcessorBuildError("outputs", "asn and as_org need `asn_database`")
            wanted = [o for o in wanted if o not in _ASN_OUTPUTS]
        check = self.reload_check.total_seconds()
        city = _open(env.base_dir / self.database, "database", check)
        try:
            asn = _open(env.base_dir / self.asn_database, "asn_database", check) if self.asn_database else None
        except ProcessorBuildError:
            city.close()
            raise
        return Geoip(self.field, self.target, wanted, self.language, self.on_invalid == "error", city, asn)


def _open(path: Path, setting: str, check_every: float) -> ReloadingFile[maxminddb.Reader]:
    if not path.is_file():
        raise ProcessorBuildError(setting, f"GeoIP database {str(path)!r} does not exist")
    try:
        return ReloadingFile(
            path,
            lambda p: maxminddb.open_database(str(p), maxminddb.MODE_AUTO),
            check_every=check_every,
            retire=lambda reader: reader.close(),
        )
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ProcessorBuildError(setting, f"cannot open GeoIP database {str(path)!r}: {exc}") from None


CACHE_SIZE = 100_000


class Geoip(Processor):
    def __init__(
        self,
        name: str,
        target: str,
        outputs: list[str],
        language: str,
        error_on_invalid: bool,
        city: ReloadingFile[maxminddb.Reader],
        asn: ReloadingFile[maxminddb.Reader] | None,
    ) -> None:
        self.name = name
        self.target = target
        self.outputs = outputs
        self.language = language
        self.error_on_invalid = error_on_invalid
        self.city = city
        self.asn = asn
        self.struct_type = pa.struct([(o, _TYPES[o]) for o in outputs] + [(_INVALID, pa.bool_())])
        # Client addresses repeat across batches: remember results until the database file changes.
        self._cache: LruCache[str, tuple[dict[str, Any] | None]] = LruCache(CACHE_SIZE)
        self._cache_for: object = None

    def process(self, batch: pa.Table) -> Processed:
        values = fields.get_strings(batch, self.name)
        if values is None:
            return Processed(batch)
        city = self.city.value
        asn = self.asn.value if self.asn is not None else None
        if (city, asn) != self._cache_for:
            self._cache.clear()
            self._cache_for = (city, asn)

        def lookup(text: str) -> dict[str, Any] | None:
            text = text.strip()
            if ":" in text:
                # IPv6 (rare in logs): the exact check; IPv4 private ranges were cleared by a regex.
                try:
                    if not ipaddress.ip_address(text).is_global:
                        return None
                except ValueError:
                    return {_INVALID: True}
            try:
                found = _city_fields(city.get(text), self.language)
                if asn is not None:
                    found.update(_asn_fields(asn.get(text)))
            except ValueError:
                # Not an address, or one the database cannot hold (IPv6 in an IPv4-only database).
                return None if _is_address(text) else {_INVALID: True}
            return found or None

        private = pc.fill_null(pc.match_substring_regex(values, _PRIVATE_V4), False)
        if pc.any(private).as_py():
            values = pc.if_else(private, pa.scalar(None, pa.string()), values)

        def cached(text: str) -> dict[str, Any] | None:
            hit = self._cache.get(text)
            if hit is None:
                hit = (lookup(text),)
                self._cache.put(text, hit)
            return hit[0]

        looked_up = fields.map_unique(values, cached, self.struct_type)
        for output in self.outputs:
            column = pc.struct_field(looked_up, output)
            if column.null_count < len(column):
                batch = fields.set_field(batch, f"{self.target}.{output}", column, pc.is_valid(column))
        errors = None
        if self.error_on_invalid:
            invalid = pc.fill_null(pc.struct_field(looked_up, _INVALID), False)
            if pc.any(invalid).as_py():
                reason = pc.binary_join_element_wise(
                    "not an IP address: '", pc.utf8_slice_codeunits(values, 0, 100), "'", ""
                )
                errors = pc.if_else(invalid, reason, pa.scalar(None, pa.string()))
        return Processed(batch, errors)

    def close(self) -> None:
        self.city.close()
        if self.asn is not None:
            self.asn.close()


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _name(record: Any, language: str) -> str | None:
    if not isinstance(record, dict):
        return None
    names = record.get("names") or {}
    name = names.get(language) or names.get("en")
    return name if isinstance(name, str) else None


def _city_fields(record: Any, language: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        return {}
    country = record.get("country") or record.get("registered_country") or {}
    location = record.get("location") or {}
    subdivisions = record.get("subdivisions") or [None]
    return {
        "country_code": country.get("iso_code"),
        "country_name": _name(country, language),
        "city": _name(record.get("city"), language),
        "region": _name(subdivisions[0], language),
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "timezone": location.get("time_zone"),
    }


def _asn_fields(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        return {}
    return {
        "asn": record.get("autonomous_system_number"),
        "as_org": record.get("autonomous_system_organization"),
    }


CONFIGS = (GeoipConfig,)
