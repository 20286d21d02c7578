from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from logwarden.pipeline.base import ProcessorBuildError
from logwarden.pipeline.enrich.geoip import Geoip
from logwarden.pipeline.fields import wide_from_records
from tests.unit.pipeline.enrich.conftest import BERLIN, write_mmdb
from tests.unit.pipeline.transforms.helpers import build, column, errors, rows

RECORDS = [
    {"message": "a", "client_ip": "81.2.69.160"},
    {"message": "b", "client_ip": "5.9.10.1"},
    {"message": "c", "client_ip": "2001:480::1"},
    {"message": "d", "client_ip": "10.0.0.7"},
    {"message": "e", "client_ip": "not-an-ip"},
    {"message": "f"},
    {"message": "g", "client_ip": "8.8.8.8"},
    {"message": "h", "client_ip": "81.2.69.160"},
]


def test_city_and_asn_fields(mmdb_dir: Path) -> None:
    step = build(
        {"type": "geoip", "field": "client_ip", "database": "GeoLite2-City.mmdb", "asn_database": "GeoLite2-ASN.mmdb"},
        mmdb_dir,
    )
    out = step.process(wide_from_records(RECORDS))
    assert out.errors is None
    got = rows(
        out, "geo.country_code", "geo.country_name", "geo.city", "geo.region", "geo.timezone", "geo.asn", "geo.as_org"
    )
    london = {
        "geo.country_code": "GB",
        "geo.country_name": "United Kingdom",
        "geo.city": "London",
        "geo.region": "England",
        "geo.timezone": "Europe/London",
        "geo.asn": 20712,
        "geo.as_org": "Andrews & Arnold",
    }
    assert got[0] == london and got[7] == london
    assert got[1]["geo.city"] == "Berlin" and got[1]["geo.asn"] == 24940
    assert got[2] == {k: None for k in london} | {"geo.country_code": "US", "geo.country_name": "United States"}
    nothing = {k: None for k in london}
    assert got[3] == got[4] == got[5] == got[6] == nothing
    assert column(out, "geo.latitude")[:2] == [51.5142, 52.52]
    assert column(out, "geo.longitude")[1] == 13.405
    step.close()


def test_target_outputs_and_language(mmdb_dir: Path) -> None:
    step = build(
        {
            "type": "geoip",
            "field": "ip",
            "database": str(mmdb_dir / "GeoLite2-City.mmdb"),
            "target": "client.geo",
            "outputs": ["country_name", "city"],
            "language": "de",
        },
    )
    out = step.process(wide_from_records([{"message": "a", "ip": "5.9.1.1"}]))
    assert rows(out, "client.geo.country_name", "client.geo.city") == [
        {"client.geo.country_name": "Deutschland", "client.geo.city": "Berlin"}
    ]
    assert "client.geo.timezone" not in out.batch.column_names
    step.close()


def test_invalid_addresses_can_be_errors(mmdb_dir: Path) -> None:
    step = build({"type": "geoip", "database": "GeoLite2-City.mmdb", "on_invalid": "error"}, mmdb_dir)
    out = step.process(wide_from_records(RECORDS))
    assert errors(out) == [None, None, None, None, "not an IP address: 'not-an-ip'", None, None, None]
    step.close()


def test_no_ip_field_at_all_is_fine(mmdb_dir: Path) -> None:
    step = build({"type": "geoip", "database": "GeoLite2-City.mmdb"}, mmdb_dir)
    out = step.process(wide_from_records([{"message": "x"}]))
    assert out.batch.num_rows == 1 and out.errors is None
    step.close()


def test_missing_or_broken_database_fails_at_build(tmp_path: Path) -> None:
    with pytest.raises(ProcessorBuildError, match="does not exist") as missing:
        build({"type": "geoip", "database": "nope.mmdb"}, tmp_path)
    assert missing.value.field == "database"
    (tmp_path / "bad.mmdb").write_bytes(b"not a database")
    with pytest.raises(ProcessorBuildError, match="cannot open") as bad:
        build({"type": "geoip", "database": "bad.mmdb"}, tmp_path)
    assert bad.value.field == "database"


def test_asn_outputs_need_the_asn_database(mmdb_dir: Path) -> None:
    with pytest.raises(ProcessorBuildError, match="asn_database"):
        build({"type": "geoip", "database": "GeoLite2-City.mmdb", "outputs": ["asn"]}, mmdb_dir)


def test_database_is_reloaded_when_the_file_changes(mmdb_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "city.mmdb"
    shutil.copy(mmdb_dir / "GeoLite2-City.mmdb", path)
    step = build({"type": "geoip", "database": str(path), "reload_check": "0s"})
    assert isinstance(step, Geoip)
    batch = wide_from_records([{"message": "a", "client_ip": "81.2.69.160"}])
    assert column(step.process(batch), "geo.city") == ["London"]
    # Replace the file the way updaters do (write aside, rename over).
    write_mmdb(tmp_path / "new.mmdb", "GeoLite2-City", {"81.2.69.0/24": BERLIN})
    stat = os.stat(path)
    os.replace(tmp_path / "new.mmdb", path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert column(step.process(batch), "geo.city") == ["Berlin"]
    assert step.city.reloads == 1
    step.close()


@pytest.mark.parametrize(
    "ip",
    ["10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "100.64.0.1", "169.254.1.1", "::1", "fe80::1", "fd00::5"],
)
def test_private_addresses_get_nothing_and_are_not_errors(mmdb_dir: Path, ip: str) -> None:
    step = build({"type": "geoip", "database": "GeoLite2-City.mmdb", "on_invalid": "error"}, mmdb_dir)
    out = step.process(wide_from_records([{"message": "m", "client_ip": ip}]))
    assert out.errors is None
    assert not [c for c in out.batch.column_names if c.startswith("geo.")]
    step.close()


def test_ipv6_address_in_an_ipv4_only_database_is_not_an_error(tmp_path: Path) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-City")
    writer.insert_network(IPSet(["5.9.0.0/16"]), BERLIN)
    writer.to_db_file(str(tmp_path / "v4.mmdb"))
    step = build({"type": "geoip", "database": "v4.mmdb", "on_invalid": "error"}, tmp_path)
    out = step.process(
        wide_from_records([{"message": "m", "client_ip": "2001:480::1"}, {"message": "n", "client_ip": "5.9.1.1"}])
    )
    assert errors(out) == [None, None]
    assert column(out, "geo.city") == [None, "Berlin"]
    step.close()
