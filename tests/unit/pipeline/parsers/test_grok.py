"""grok: the bundled library, user patterns and files, conversions, names and build errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from logwarden.pipeline.base import ProcessorBuildError
from logwarden.pipeline.parsers.engine import compile_extractor
from logwarden.pipeline.parsers.grok import bundled_patterns, compile_grok
from tests.unit.pipeline.parsers.helpers import build, lines, rows, run

REQUIRED = [
    "USERNAME",
    "USER",
    "INT",
    "BASE10NUM",
    "NUMBER",
    "POSINT",
    "NONNEGINT",
    "WORD",
    "NOTSPACE",
    "SPACE",
    "DATA",
    "GREEDYDATA",
    "QUOTEDSTRING",
    "UUID",
    "MAC",
    "IPV6",
    "IPV4",
    "IP",
    "HOSTNAME",
    "IPORHOST",
    "HOSTPORT",
    "PATH",
    "UNIXPATH",
    "URIPROTO",
    "URIHOST",
    "URIPATH",
    "URIPARAM",
    "URIPATHPARAM",
    "URI",
    "MONTH",
    "MONTHNUM",
    "MONTHDAY",
    "DAY",
    "YEAR",
    "HOUR",
    "MINUTE",
    "SECOND",
    "TIME",
    "DATE_US",
    "DATE_EU",
    "ISO8601_TIMEZONE",
    "TIMESTAMP_ISO8601",
    "DATESTAMP",
    "HTTPDATE",
    "SYSLOGTIMESTAMP",
    "SYSLOGHOST",
    "SYSLOGPROG",
    "SYSLOGBASE",
    "LOGLEVEL",
    "COMMONAPACHELOG",
    "COMBINEDAPACHELOG",
    "HTTPD_COMMONLOG",
    "HTTPD_COMBINEDLOG",
]


def grab(pattern: str, text: str) -> str | None:
    """What %{pattern:x} captures in text (searching), or None when it does not match."""
    regex, _ = compile_grok(f"%{{{pattern}:x}}", bundled_patterns())
    match = pc.extract_regex(pa.array([text]), regex).to_pylist()[0]
    return None if match is None else str(match["g0"])


def grab_fast(pattern: str, text: str) -> str | None:
    """The same through the engine the grok processor uses (Rust regex via polars)."""
    regex, _ = compile_grok(f"%{{{pattern}:x}}", bundled_patterns())
    extractor = compile_extractor(regex)
    assert extractor.rust is not None
    matched, groups = extractor.extract(pa.array([text]))
    return str(groups["g0"][0].as_py()) if matched[0].as_py() else None


def test_every_required_pattern_is_bundled_and_compiles_for_re2() -> None:
    library = bundled_patterns()
    assert not [name for name in REQUIRED if name not in library]
    for name in library:
        build({"type": "grok", "pattern": f"%{{{name}}}"})


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("IPV4", "from 192.168.0.254 port", "192.168.0.254"),
        ("IPV4", "ip=10.0.0.1", "10.0.0.1"),
        ("IPV6", "addr 2001:db8::ff00:42:8329 x", "2001:db8::ff00:42:8329"),
        ("IPV6", "fe80::1%eth0", "fe80::1%eth0"),
        ("IPV6", "::1", "::1"),
        ("IPV6", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("IP", "::ffff:192.0.2.128", "::ffff:192.0.2.128"),
        ("HOSTNAME", "db-01.example.com. up", "db-01.example.com."),
        ("NUMBER", "took -12.5ms", "-12.5"),
        ("NUMBER", "ratio .5", ".5"),
        ("INT", "x +42 y", "+42"),
        ("POSINT", "pid 0 then 17", "17"),
        ("UUID", "id 123e4567-e89b-12d3-a456-426614174000.", "123e4567-e89b-12d3-a456-426614174000"),
        ("MAC", "hw 00:1A:2b:3c:4D:5e up", "00:1A:2b:3c:4D:5e"),
        ("MAC", "hw 001a.2b3c.4d5e", "001a.2b3c.4d5e"),
        ("QUOTEDSTRING", 'say "a \\"b\\" c" now', '"a \\"b\\" c"'),
        ("QUOTEDSTRING", "say 'single' now", "'single'"),
        ("URI", "see https://user@example.com:8443/a/b?c=d&e=f now", "https://user@example.com:8443/a/b?c=d&e=f"),
        ("URIPATHPARAM", "GET /a/b.html?x=1 HTTP", "/a/b.html?x=1"),
        ("UNIXPATH", "open /var/log/nginx/access.log failed", "/var/log/nginx/access.log"),
        ("PATH", "C:\\Windows\\System32 ok", "C:\\Windows\\System32 ok"),
        ("TIMESTAMP_ISO8601", "at 2024-01-02T03:04:05.123+02:00 x", "2024-01-02T03:04:05.123+02:00"),
        ("TIMESTAMP_ISO8601", "at 2024-01-02 03:04:05,123 x", "2024-01-02 03:04:05,123"),
        ("HTTPDATE", "[10/Oct/2000:13:55:36 -0700]", "10/Oct/2000:13:55:36 -0700"),
        ("SYSLOGTIMESTAMP", "Feb  5 17:32:18 host", "Feb  5 17:32:18"),
        ("DATESTAMP", "on 12/31/2023 23:59:59 ok", "12/31/2023 23:59:59"),
        ("DATE_EU", "am 31.12.2023", "31.12.2023"),
        ("LOGLEVEL", "[WARNING] disk", "WARNING"),
        ("LOGLEVEL", "level=info", "info"),
        ("HOSTPORT", "connect db:5432 failed", "db:5432"),
        ("EMAILADDRESS", "mail a.b+c@example.org now", "a.b+c@example.org"),
    ],
)
def test_bundled_patterns_match_what_they_should(pattern: str, text: str, expected: str) -> None:
    assert grab(pattern, text) == expected
    assert grab_fast(pattern, text) == expected


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("IPV4", "999.1.1.1"),
        ("IPV4", "1.2.3"),
        ("UUID", "123e4567-e89b-12d3-a456"),
        ("POSINT", "abc"),
        ("HTTPDATE", "10/Foo/2000:13:55:36 -0700"),
        ("MAC", "00:1A:2b:3c"),
    ],
)
def test_bundled_patterns_reject_what_they_should(pattern: str, text: str) -> None:
    assert grab(pattern, text) is None
    assert grab_fast(pattern, text) is None


def test_re2_only_syntax_runs_on_arrow() -> None:
    extractor = compile_extractor(compile_grok(r"\Q[x]\E%{INT:n}", bundled_patterns())[0])
    assert extractor.rust is None
    [row] = rows(run({"type": "grok", "pattern": r"\Q[x]\E%{INT:n:int}"}, lines("a [x]42")))
    assert row["n"] == 42


def test_issue_example_field_names_and_types() -> None:
    line = (
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
        '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
    )
    [row] = rows(run({"type": "grok", "field": "message", "pattern": "%{COMBINEDAPACHELOG}"}, lines(line)))
    assert {k: row[k] for k in ("clientip", "verb", "request", "response", "bytes", "agent")} == {
        "clientip": "127.0.0.1",
        "verb": "GET",
        "request": "/apache_pb.gif",
        "response": "200",
        "bytes": "2326",
        "agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
    }


def test_conversions_nested_names_and_dotted_names() -> None:
    settings = {"type": "grok", "pattern": "%{WORD:[http][method]} %{NUMBER:http.status:int} %{NUMBER:took:float}"}
    [row] = rows(run(settings, lines("GET 404 1.25")))
    assert row["http.method"] == "GET"
    assert row["http.status"] == 404
    assert row["took"] == 1.25


def test_int_conversion_truncates_decimals() -> None:
    [row] = rows(run({"type": "grok", "pattern": "%{NUMBER:n:int}"}, lines("n=-12.7")))
    assert row["n"] == -12


def test_user_patterns_inline_and_files(tmp_path: Path) -> None:
    (tmp_path / "pats").mkdir()
    (tmp_path / "pats" / "app").write_text("# app patterns\nAPPID [a-z]{3}-[0-9]+\n\nTICKET T%{INT}\n")
    (tmp_path / "more.grok").write_text("REGION (?:eu|us)-[a-z]+-[0-9]\n")
    settings = {
        "type": "grok",
        "pattern": "%{APPID:app} %{TICKET:ticket} %{REGION:region} %{STAGE:stage}",
        "patterns": {"STAGE": "prod|staging"},
        "patterns_dir": "pats",
        "patterns_files": ["more.grok"],
    }
    [row] = rows(build(settings, tmp_path).process(lines("abc-12 T99 eu-west-1 prod")))
    assert (row["app"], row["ticket"], row["region"], row["stage"]) == ("abc-12", "T99", "eu-west-1", "prod")


def test_multiple_patterns_first_match_wins() -> None:
    settings = {"type": "grok", "pattern": ["%{IP:ip} %{WORD:verb}", "%{WORD:verb} %{GREEDYDATA:rest}"]}
    out = rows(run(settings, lines("10.0.0.1 GET", "POST something else", "")))
    assert out[0]["ip"] == "10.0.0.1" and out[0]["verb"] == "GET" and "rest" not in out[0]
    assert out[1]["verb"] == "POST" and out[1]["rest"] == "something else" and "ip" not in out[1]
    assert out[2]["error"] == "no grok pattern matched"


def test_raw_named_groups_and_target() -> None:
    [row] = rows(run({"type": "grok", "pattern": r"(?<user>\w+) %{INT:n:int}", "target": "g"}, lines("bob 7")))
    assert row["g.user"] == "bob" and row["g.n"] == 7


@pytest.mark.parametrize(
    ("settings", "field", "needle"),
    [
        ({"pattern": "%{NOPE:x}"}, "pattern", "unknown grok pattern %{NOPE}"),
        ({"pattern": "%{A}", "patterns": {"A": "%{B}", "B": "x%{A}"}}, "pattern", "refers to itself"),
        ({"pattern": "%{INT:n:bool}"}, "pattern", "unknown conversion"),
        ({"pattern": "%{INT:severity}"}, "pattern", "set by logwarden"),
        ({"pattern": "%{BAD}", "patterns": {"BAD": "(?=x)y"}}, "pattern", "lookahead"),
        ({"pattern": "%{INT}", "patterns_dir": "missing"}, "patterns_dir", "does not exist"),
        ({"pattern": "%{INT}", "patterns_files": ["missing.grok"]}, "patterns_files", "does not exist"),
    ],
)
def test_build_errors_name_the_setting(settings: dict[str, object], field: str, needle: str) -> None:
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "grok", **settings})
    assert err.value.field == field
    assert needle in str(err.value)


def test_malformed_pattern_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.grok").write_text("lowercase-name? regex\n")
    with pytest.raises(ProcessorBuildError) as err:
        build({"type": "grok", "pattern": "%{INT}", "patterns_files": ["bad.grok"]}, tmp_path)
    assert err.value.field == "patterns_files"
    assert "bad.grok:1" in str(err.value)
