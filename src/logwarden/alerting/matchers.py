"""Label matchers, as Alertmanager writes them: `service="api"`, `severity!=info`, `host=~"web-.*"`, `env!~"dev|test"`.

A value may be quoted (`"…"`, with `\\"` and `\\\\` escapes) or bare; regular expressions are anchored at both ends
(`=~"web"` matches only `web`). A label that is not set matches as the empty string, so `team=""` selects alerts
without a team and `team!=""` those with one — Alertmanager's rules.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_MATCHER = re.compile(rf'^\s*({_NAME}|"[^"]*")\s*(=~|!~|!=|=)\s*(.*?)\s*$', re.S)


class MatchType(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, type: MatchType | str, value: str) -> Matcher:
        kind = MatchType(type)
        regex = None
        if kind in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = re.compile(f"(?:{value})")
            except re.error as exc:
                raise ValueError(f"matcher {name}{kind}{value!r}: invalid regular expression: {exc}") from None
        return cls(name, kind, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(value) is not None
        return hit if self.type is MatchType.REGEX else not hit

    def __str__(self) -> str:
        quoted = '"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{self.name}{self.type.value}{quoted}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.value, "value": self.value}


def parse_matcher(text: str) -> Matcher:
    """One matcher from its text; ValueError saying what is wrong."""
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(f"invalid matcher {text!r}: write name=value, name!=value, name=~regex or name!~regex")
    name, op, raw = m.groups()
    if name.startswith('"'):
        name = name[1:-1]
    return Matcher.create(name, op, _unquote(raw, text))


def _unquote(raw: str, text: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        out, i = [], 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                out.append(body[i + 1])
                i += 2
                continue
            if ch == '"':
                raise ValueError(f"invalid matcher {text!r}: unescaped quote inside the value")
            out.append(ch)
            i += 1
        return "".join(out)
    if raw.startswith('"'):
        raise ValueError(f"invalid matcher {text!r}: unterminated quote")
    return raw


def parse_matchers(value: Any) -> list[Matcher]:
    """Matchers from a list of texts, one text of several (`{a="b", c=~"d"}` or `a="b",c=~"d"`), a mapping
    (`{name: value}`: equality), or Matcher objects / their JSON."""
    if value is None:
        return []
    if isinstance(value, Matcher):
        return [value]
    if isinstance(value, Mapping):
        if {"name", "type", "value"} <= set(value):
            return [Matcher.create(str(value["name"]), str(value["type"]), str(value["value"]))]
        return [Matcher.create(str(k), MatchType.EQUAL, str(v)) for k, v in value.items()]
    if isinstance(value, str):
        return [parse_matcher(part) for part in split_matchers(value)]
    if isinstance(value, Iterable):
        out: list[Matcher] = []
        for item in value:
            out += parse_matchers(item)
        return out
    raise ValueError(f"invalid matchers {value!r}")


def split_matchers(text: str) -> list[str]:
    """`{a="b", c=~"x,y"}` → [`a="b"`, `c=~"x,y"`] (commas inside quotes kept)."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    parts, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if ch == "\\":
            current.append(ch)
            escaped = True
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
