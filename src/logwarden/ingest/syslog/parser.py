"""Parse a batch of syslog frames (RFC 5424 and RFC 3164) into a record table, a few Arrow passes per batch.

Every step runs over the whole batch as a pyarrow string array: RE2 patterns (`extract_regex`) take
the PRI, the RFC 5424 header, or the RFC 3164 timestamp / host / tag apart; lookups map PRI to
facility, severity and level; the timestamps go through the shared vectorized parser. Python runs per
frame only to unpack RFC 5424 structured data, and only for the messages that carry some, and for the
dead letters.

RFC 3164 is a description of practice rather than a grammar, so the 3164 path accepts what senders
really emit: an RFC 3339 timestamp instead of `Mmm dd hh:mm:ss` (rsyslog's forward format), fractional
seconds, no timestamp and no hostname at all (Python's SysLogHandler, local /dev/log clients), `TAG:`,
`TAG[pid]:` or no tag. Without a timestamp the first word is never taken for a hostname.

Output columns are the core-field aliases the sink's normalizer understands (`ts`, `level`, `message`,
`service`, `host`), plus `syslog.*` columns and pre-built `sd.*` attrs for everything else. Frames that
are not syslog (no `<PRI>`), malformed RFC 5424, invalid UTF-8 and oversize frames become dead letters
with the reason and the sender's address.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.ingest.ndjson import DecodedBody
from logwarden.ingest.syslog.structured_data import SD_ELEMENTS_PATTERN, parse_structured_data
from logwarden.model.levels import level_from_syslog_severity
from logwarden.model.normalize import PREBUILT_ATTRS
from logwarden.model.schema import TS_TYPE
from logwarden.model.timestamps import parse_timestamps

# RFC 5424 6.2.1 (keywords as in syslog.conf and Python's SysLogHandler).
FACILITIES: tuple[str, ...] = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES: tuple[str, ...] = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
MAX_PRI = len(FACILITIES) * 8 - 1

_FACILITY_NAMES = pa.array(FACILITIES, pa.string())
_SEVERITY_NAMES = pa.array(SEVERITIES, pa.string())
_SEVERITY_LEVELS = pa.array([level_from_syslog_severity(s) for s in range(8)], pa.string())

# Whitespace, NULs and byte-order marks around a frame are not part of the message.
_LEADING_JUNK = "\ufeff \t\r\n\x00"
_TRAILING_JUNK = "\r\n\x00"

# Header patterns stop where the message starts: the message is what `replace_substring_regex` leaves when it
# cuts the same pattern off (RE2 extracts a short match much faster than one that spans the whole message).
_PRI_RE = r"^<(?P<pri>\d{1,3})>"
_RFC5424_RE = (
    r"(?s)^(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    rf"(?P<sd>-|{SD_ELEMENTS_PATTERN})(?: |$)"
)
# A version and a timestamp (or NILVALUE) where RFC 5424 puts them: meant as 5424, so a mismatch is malformed.
_LOOKS_5424_RE = r"^[1-9]\d{0,2} (?:-|\d{4}-\d\d-\d\d[Tt])"
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_RFC3164_TS_RE = (
    rf"(?s)^(?P<ts>(?i:{_MONTHS}) +\d{{1,2}} \d\d:\d\d:\d\d(?:\.\d{{1,9}})?"
    r"|\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d\d:?\d\d)?)(?: +|$)"
)
_TAG = r"(?P<tag>[^\s\[\]:]{1,64})(?:\[(?P<pid>[^\s\]]{0,128})\])?:(?: |$)"
_TAG_FIRST_RE = rf"^{_TAG}"
_HOST_TAG_RE = rf"^(?P<host>[^\s\[\]]+) {_TAG}"
_HOST_ONLY_RE = r"^(?P<host>[^\s\[\]]*[^\s\[\]:])(?: |$)"
_HAS_OFFSET_RE = r"(?i)(?:z|[+-]\d\d:?\d\d)$"
_BSD_STAMP_RE = rf"^(?i:{_MONTHS}) +\d{{1,2}} \d\d:\d\d:\d\d(?:\.\d{{1,9}})?$"
_MONTH_NUMBERS = {name.lower(): i for i, name in enumerate(_MONTHS.split("|"), start=1)}
_MAX_DISTINCT_BSD_STAMPS = 1024


def _text_or_null(values: pa.Array, nil: str | None = None) -> pa.Array:
    """Empty strings (a group that did not take part) and the NILVALUE become null."""
    empty = pc.equal(values, "")
    if nil is not None:
        empty = pc.or_(empty, pc.equal(values, nil))
    return pc.if_else(empty, pa.scalar(None, pa.string()), values)


def _field(parts: pa.Array, name: str) -> pa.Array:
    """One named group of an extract_regex result; null where the pattern did not match."""
    values = pc.struct_field(parts, name)
    return pc.if_else(pc.is_valid(parts), values, pa.scalar(None, pa.string()))


def _split(values: pa.Array, pattern: str) -> tuple[pa.Array, pa.Array]:
    """(named groups of the header `pattern`, the text after it); the groups are null where it does not match."""
    return pc.extract_regex(values, pattern), pc.replace_substring_regex(values, pattern, "", max_replacements=1)


def _mask(values: pa.Array) -> pa.Array:
    return pc.fill_null(values, False)


def _flags(mask: pa.Array) -> list[int]:
    """Row numbers where `mask` is true (used for the few rows that become dead letters)."""
    return list(pc.indices_nonzero(mask).to_pylist())


class _Rejects:
    """Dead letters of one batch: the frame as text, the reason, and who sent it."""

    def __init__(self, peers: Sequence[str] | str) -> None:
        self.peers = peers
        self.items: list[tuple[str, str]] = []

    def peer(self, i: int) -> str:
        return self.peers if isinstance(self.peers, str) else self.peers[i]

    def add(self, text: str, reason: str, peer: str) -> None:
        self.items.append((text, f"{reason} (from {peer})"))


def decode_frames(
    frames: Sequence[bytes],
    peers: Sequence[str] | str,
    received: datetime,
    *,
    timezone: str = "UTC",
    rejected: Sequence[tuple[bytes, str, str]] = (),
) -> DecodedBody:
    """Records for `frames`, dead letters for those that are not valid syslog.

    `peers` is the sender address of each frame, or one address for all of them (a TCP connection);
    it is the host of messages that name none. `rejected` are frames the framing already refused
    (oversize), stored as dead letters: (frame, reason, sender). `timezone` is the zone of timestamps without
    an offset (RFC 3164).
    """
    rejects = _Rejects(peers)
    for raw, reason, peer in rejected:
        rejects.add(raw.decode("utf-8", "replace"), reason, peer)
    if not frames:
        return DecodedBody(None, rejects.items)
    binary = pa.array(frames, pa.binary())
    peer_values: pa.Array | pa.Scalar = (
        pa.scalar(peers, pa.string()) if isinstance(peers, str) else pa.array(peers, pa.string())
    )
    try:
        text = binary.cast(pa.string())
    except pa.ArrowInvalid:
        valid = _valid_utf8(frames, rejects)
        binary = binary.filter(valid)
        text = binary.cast(pa.string())
        if not isinstance(peer_values, pa.Scalar):
            peer_values = peer_values.filter(valid)
            rejects.peers = peer_values.to_pylist()
    table = _parse(text, peer_values, received, timezone, rejects)
    return DecodedBody(table, rejects.items)


def _valid_utf8(frames: Sequence[bytes], rejects: _Rejects) -> pa.Array:
    """Rare path (the batch holds invalid UTF-8): find the bad frames one by one and dead-letter them."""
    valid = []
    for i, frame in enumerate(frames):
        try:
            frame.decode("utf-8")
            valid.append(True)
        except UnicodeDecodeError as exc:
            valid.append(False)
            rejects.add(
                frame.decode("utf-8", "replace"), f"invalid UTF-8 at byte {exc.start} of the frame", rejects.peer(i)
            )
    return pa.array(valid, pa.bool_())


def _parse(
    text: pa.Array, peers: pa.Array | pa.Scalar, received: datetime, timezone: str, rejects: _Rejects
) -> pa.Table | None:
    text = pc.utf8_rtrim(pc.utf8_ltrim(text, characters=_LEADING_JUNK), characters=_TRAILING_JUNK)
    keep = pc.not_equal(text, "")  # blank lines between frames carry nothing
    # PRI
    pri_parts, body = _split(text, _PRI_RE)
    pri = pc.cast(_text_or_null(_field(pri_parts, "pri")), pa.int64())
    pri_ok = _mask(pc.less_equal(pri, MAX_PRI))
    for i in _flags(pc.and_(keep, pc.invert(pri_ok))):
        value = text[i].as_py()
        reason = (
            f"invalid syslog PRI: {pri[i].as_py()} is above {MAX_PRI}"
            if pri[i].is_valid
            else "not a syslog message: it does not start with <PRI>"
        )
        rejects.add(value, reason, rejects.peer(i))
    body = pc.if_else(pc.is_valid(pri_parts), body, pa.scalar(None, pa.string()))
    # RFC 5424
    parts5424, msg5424 = _split(body, _RFC5424_RE)
    is5424 = _mask(pc.is_valid(parts5424))
    malformed = pc.and_(pc.and_(pri_ok, pc.invert(is5424)), _mask(pc.match_substring_regex(body, _LOOKS_5424_RE)))
    for i in _flags(malformed):
        rejects.add(text[i].as_py(), "malformed RFC 5424 message (header or structured data)", rejects.peer(i))
    ok = pc.and_(keep, pc.and_(pri_ok, pc.invert(malformed)))
    if not pc.any(ok).as_py():
        return None
    # Only the rows that become records from here on.
    text = text.filter(ok)
    pri = pri.filter(ok)
    body = body.filter(ok)
    parts5424 = parts5424.filter(ok)
    msg5424 = msg5424.filter(ok)
    is5424 = is5424.filter(ok)
    if isinstance(peers, pa.Array):
        peers = peers.filter(ok)

    ts5424 = _text_or_null(_field(parts5424, "ts"), "-")
    host5424 = _text_or_null(_field(parts5424, "host"), "-")
    app5424 = _text_or_null(_field(parts5424, "app"), "-")
    procid5424 = _text_or_null(_field(parts5424, "procid"), "-")
    msgid = _text_or_null(_field(parts5424, "msgid"), "-")
    sd = _text_or_null(_field(parts5424, "sd"), "-")
    msg5424 = pc.if_else(is5424, msg5424, pa.scalar(None, pa.string()))

    ts3164, host3164, tag, pid, msg3164 = _rfc3164(pc.if_else(is5424, pa.scalar(None, pa.string()), body))

    ts_text = pc.coalesce(ts5424, ts3164)
    host = pc.coalesce(host5424, host3164, peers)
    service = pc.coalesce(app5424, tag)
    procid = pc.coalesce(procid5424, pid)
    # RFC 5424 6.4: a UTF-8 message may start with a BOM; RFC 3164 senders copy the habit.
    message = pc.utf8_ltrim(pc.coalesce(msg5424, msg3164), characters="\ufeff")

    severity = pc.bit_wise_and(pri, 7)
    facility = pc.shift_right(pri, 3)
    columns: dict[str, pa.Array] = {
        "ts": _timestamps(ts_text, received, timezone),
        "level": pc.take(_SEVERITY_LEVELS, severity),
        "message": message,
        "service": service,
        "host": host,
        "syslog.facility": pc.take(_FACILITY_NAMES, facility),
        "syslog.severity": pc.take(_SEVERITY_NAMES, severity),
        "syslog.procid": procid,
        "syslog.msgid": msgid,
    }
    unparsed = pc.and_(pc.is_valid(ts_text), pc.is_null(columns["ts"]))
    if pc.any(unparsed).as_py():
        columns["syslog.timestamp"] = pc.if_else(unparsed, ts_text, pa.scalar(None, pa.string()))
    if sd.null_count < len(sd):
        # Per distinct STRUCTURED-DATA text (senders repeat theirs), only where there is some: attrs JSON ready-made.
        distinct = pc.dictionary_encode(sd)
        encoded = [
            None if value is None else orjson.dumps(parse_structured_data(value)).decode()
            for value in distinct.dictionary.to_pylist()
        ]
        columns[PREBUILT_ATTRS] = pc.take(pa.array(encoded, pa.string()), distinct.indices)
    return pa.table(columns)


def _rfc3164(body: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]:
    """(timestamp text, host, tag, pid, message) of the non-null rows of `body`."""
    null = pa.scalar(None, pa.string())
    stamped, rest = _split(body, _RFC3164_TS_RE)
    has_ts = _mask(pc.is_valid(stamped))
    ts = _field(stamped, "ts")
    # After a timestamp: what follows it; without one, the whole body (and no hostname can be told apart).
    tag_first, after_tag_first = _split(rest, _TAG_FIRST_RE)
    stamped_rest = pc.if_else(has_ts, rest, null)
    host_tag, after_host_tag = _split(stamped_rest, _HOST_TAG_RE)
    host_only, after_host_only = _split(stamped_rest, _HOST_ONLY_RE)
    use_tag_first = _mask(pc.is_valid(tag_first))
    use_host_tag = pc.and_(pc.invert(use_tag_first), _mask(pc.is_valid(host_tag)))
    use_host_only = pc.and_(pc.invert(pc.or_(use_tag_first, use_host_tag)), _mask(pc.is_valid(host_only)))

    def pick(name: str, *sources: tuple[pa.Array, pa.Array]) -> pa.Array:
        out: pa.Array = pa.nulls(len(body), pa.string())
        for use, parts in sources:
            out = pc.if_else(use, pc.struct_field(parts, name), out)
        return out

    tag = _text_or_null(pick("tag", (use_tag_first, tag_first), (use_host_tag, host_tag)))
    pid = _text_or_null(pick("pid", (use_tag_first, tag_first), (use_host_tag, host_tag)))
    host = _text_or_null(pick("host", (use_host_tag, host_tag), (use_host_only, host_only)))
    message = pc.if_else(
        use_tag_first,
        after_tag_first,
        pc.if_else(use_host_tag, after_host_tag, pc.if_else(use_host_only, after_host_only, rest)),
    )
    return ts, host, tag, pid, message


def _timestamps(ts_text: pa.Array, received: datetime, timezone: str) -> pa.Array:
    # Senders stamp whole seconds (RFC 3164) or repeat stamps within a batch: parse each distinct one once.
    distinct = pc.dictionary_encode(ts_text)
    values = distinct.dictionary
    bsd = _mask(pc.match_substring_regex(values, _BSD_STAMP_RE))
    if len(values) <= _MAX_DISTINCT_BSD_STAMPS and pc.any(bsd).as_py():
        # A handful of `Mmm dd hh:mm:ss` values: cheaper in Python than a DuckDB query for each batch.
        flags = bsd.to_pylist()
        bsd_parsed = pa.array(
            [_bsd_stamp(v, received) if f else None for v, f in zip(values.to_pylist(), flags, strict=True)],
            TS_TYPE,
        )
        others = pc.if_else(bsd, pa.scalar(None, pa.string()), values)
        if others.null_count < len(others):
            bsd_parsed = pc.coalesce(bsd_parsed, parse_timestamps(others, received))
        parsed_values = bsd_parsed
    else:
        parsed_values = parse_timestamps(values, received)
    parsed = pc.take(parsed_values, distinct.indices)
    if timezone == "UTC" or not pc.any(pc.is_valid(parsed)).as_py():
        return parsed
    # Stamps without an offset are the sender's local time; the parser read them as UTC.
    local = _mask(pc.invert(pc.match_substring_regex(ts_text, _HAS_OFFSET_RE)))
    if not pc.any(pc.and_(local, pc.is_valid(parsed))).as_py():
        return parsed
    wall = pc.cast(parsed, pa.timestamp("us"))
    zoned = pc.cast(pc.assume_timezone(wall, timezone=timezone, ambiguous="earliest", nonexistent="earliest"), TS_TYPE)
    return pc.if_else(local, zoned, parsed)


def _bsd_stamp(text: str, received: datetime) -> datetime | None:
    """`Mmm dd hh:mm:ss[.fff]` in the year that puts it nearest `received` (as model.timestamps does)."""
    month_name, day, clock = text.split()
    hms, _, fraction = clock.partition(".")
    hour, minute, second = (int(part) for part in hms.split(":"))
    micros = int((fraction + "000000")[:6]) if fraction else 0
    candidates = []
    for year in (received.year - 1, received.year, received.year + 1):
        try:
            candidates.append(
                datetime(year, _MONTH_NUMBERS[month_name.lower()], int(day), hour, minute, second, micros, tzinfo=UTC)
            )
        except ValueError:  # Feb 29 outside a leap year, hour 24, …
            continue
    return min(candidates, key=lambda t: abs(t - received)) if candidates else None
