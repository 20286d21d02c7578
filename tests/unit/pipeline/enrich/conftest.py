"""Small MaxMind databases written by the tests themselves (GeoLite2-City and ASN shaped records)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

LONDON = {
    "city": {"geoname_id": 2643743, "names": {"en": "London", "de": "London"}},
    "continent": {"code": "EU", "names": {"en": "Europe"}},
    "country": {"iso_code": "GB", "names": {"en": "United Kingdom", "de": "Vereinigtes Königreich"}},
    "location": {"latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London", "accuracy_radius": 10},
    "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
}
BERLIN = {
    "city": {"names": {"en": "Berlin"}},
    "country": {"iso_code": "DE", "names": {"en": "Germany", "de": "Deutschland"}},
    "location": {"latitude": 52.52, "longitude": 13.405, "time_zone": "Europe/Berlin"},
    "subdivisions": [{"iso_code": "BE", "names": {"en": "Land Berlin"}}],
}
# Country-level record only (no city, no location), as for many IPv6 networks.
US_V6 = {"country": {"iso_code": "US", "names": {"en": "United States"}}}


def write_mmdb(path: Path, database_type: str, networks: dict[str, dict[str, Any]]) -> Path:
    writer = MMDBWriter(ip_version=6, database_type=database_type, ipv4_compatible=True, languages=["en", "de"])
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture(scope="session")
def mmdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mmdb")
    write_mmdb(
        directory / "GeoLite2-City.mmdb",
        "GeoLite2-City",
        {"81.2.69.0/24": LONDON, "5.9.0.0/16": BERLIN, "2001:480::/32": US_V6},
    )
    write_mmdb(
        directory / "GeoLite2-ASN.mmdb",
        "GeoLite2-ASN",
        {
            "81.2.69.0/24": {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold"},
            "5.9.0.0/16": {"autonomous_system_number": 24940, "autonomous_system_organization": "Hetzner Online GmbH"},
        },
    )
    return directory
