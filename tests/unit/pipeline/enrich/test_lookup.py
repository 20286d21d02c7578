from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from logwarden.pipeline.enrich.lookup import Lookup, SqlSource
from logwarden.pipeline.fields import wide_from_records
from tests.unit.pipeline.transforms.helpers import build, column, parse_config, rows

RECORDS = [
    {"message": "a", "service": "api"},
    {"message": "b", "service": "billing"},
    {"message": "c", "service": "unknown-svc"},
    {"message": "d"},
]


def write_owners(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_lookup_adds_columns_with_prefix_and_defaults(tmp_path: Path) -> None:
    write_owners(tmp_path / "owners.csv", "service,team,tier\napi,platform,1\nbilling,payments,2\napi,duplicate,9\n")
    step = build(
        {
            "type": "lookup",
            "field": "service",
            "table": {"file": "owners.csv", "key": "service"},
            "target": "owner.",
            "defaults": {"team": "unowned"},
        },
        tmp_path,
    )
    out = step.process(wide_from_records(RECORDS))
    assert rows(out, "owner.team", "owner.tier") == [
        {"owner.team": "platform", "owner.tier": 1},
        {"owner.team": "payments", "owner.tier": 2},
        {"owner.team": "unowned", "owner.tier": None},
        {"owner.team": "unowned", "owner.tier": None},
    ]


def test_selected_columns_and_numeric_keys(tmp_path: Path) -> None:
    write_owners(tmp_path / "codes.csv", "code;name;note\n404;Not Found;x\n500;Server Error;y\n")
    step = build(
        {"type": "lookup", "field": "status", "table": {"file": "codes.csv", "delimiter": ";", "columns": ["name"]}},
        tmp_path,
    )
    out = step.process(wide_from_records([{"message": "a", "status": 404}, {"message": "b", "status": 200}]))
    assert column(out, "name") == ["Not Found", None]
    assert "note" not in out.batch.column_names


def test_csv_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    path = write_owners(tmp_path / "owners.csv", "service,team\napi,platform\n")
    step = build(
        {"type": "lookup", "field": "service", "table": {"file": "owners.csv"}, "reload_check": "0s"}, tmp_path
    )
    batch = wide_from_records(RECORDS[:1])
    assert column(step.process(batch), "team") == ["platform"]
    stat = os.stat(path)
    write_owners(path, "service,team\napi,core\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert column(step.process(batch), "team") == ["core"]


def test_sql_lookup_refreshes(tmp_path: Path) -> None:
    db = tmp_path / "owners.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE owners (service TEXT, team TEXT, oncall TEXT)")
        conn.execute("INSERT INTO owners VALUES ('api', 'platform', 'ann'), ('billing', 'payments', 'bob')")
    conn.close()
    step = build(
        {
            "type": "lookup",
            "field": "service",
            "table": {"url": f"sqlite:///{db}", "query": "SELECT service, team, oncall FROM owners", "refresh": "1h"},
        }
    )
    assert isinstance(step, Lookup) and isinstance(step.source, SqlSource)
    out = step.process(wide_from_records(RECORDS))
    assert column(out, "team") == ["platform", "payments", None, None]
    assert column(out, "oncall") == ["ann", "bob", None, None]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE owners SET team = 'core' WHERE service = 'api'")
    conn.close()
    step.source.refresh = 0
    assert column(step.process(wide_from_records(RECORDS)), "team")[0] == "core"
    step.close()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "either `file`"),
        ({"file": "a.csv", "url": "sqlite://"}, "either `file`"),
        ({"url": "sqlite://"}, "needs `query`"),
        ({"file": "a.csv", "query": "select 1"}, "for SQL tables"),
    ],
)
def test_bad_table_settings(table: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_config({"type": "lookup", "field": "service", "table": table})


def test_build_errors_name_the_setting(tmp_path: Path) -> None:
    from logwarden.pipeline.base import ProcessorBuildError

    with pytest.raises(ProcessorBuildError, match="does not exist") as e:
        build({"type": "lookup", "field": "s", "table": {"file": "nope.csv"}}, tmp_path)
    assert e.value.field == "table.file"
    write_owners(tmp_path / "t.csv", "service,team\napi,x\n")
    with pytest.raises(ProcessorBuildError, match="no column 'svc'") as e:
        build({"type": "lookup", "field": "s", "table": {"file": "t.csv", "key": "svc"}}, tmp_path)
    assert e.value.field == "table.key"
    with pytest.raises(ProcessorBuildError, match="not one of the added columns") as e:
        build({"type": "lookup", "field": "s", "table": {"file": "t.csv"}, "defaults": {"owner": "x"}}, tmp_path)
    with pytest.raises(ProcessorBuildError, match="cannot run the lookup query") as e:
        build({"type": "lookup", "field": "s", "table": {"url": "sqlite://", "query": "SELECT * FROM missing"}})
    assert e.value.field == "table.url"
