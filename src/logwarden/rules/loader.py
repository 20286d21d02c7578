"""Load a directory of rule files, with errors that name file, line, group, rule and field; watch it for changes.

Every `*.yaml`/`*.yml` file directly in the directory is read, in name order (dotfiles are skipped). Rule names
are unique across the directory. `RulesWatcher` re-reads changed files: a file that fails keeps its previous
good rules while other files' changes apply, and the failure shows in its status (like pipeline reload).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from logwarden.config.loader import ConfigError, line_of, read_yaml_mapping
from logwarden.rules.model import Rule, RuleFile
from logwarden.rules.types import KNOWN_TYPES

RULE_FILE_SUFFIXES = (".yaml", ".yml")


class RulesError(ConfigError):
    """Invalid rule files; `problems` has one `file:line: where: what` per error (the message joins them)."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """A rule with where it was written: file, line, group (and the group's interval)."""

    rule: Rule
    file: str
    line: int | None
    group: str
    interval: timedelta | None
    where: str
    """`groups.0 (seed).rules.1 (error-burst)`: its place in the file, for messages."""


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """One valid rule file and its rules in order."""

    path: str
    file: RuleFile
    entries: tuple[RuleEntry, ...]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The valid rules of a directory, file by file in name order."""

    files: tuple[LoadedFile, ...] = ()

    @property
    def entries(self) -> tuple[RuleEntry, ...]:
        """Every rule, enabled or not, in file and group order."""
        return tuple(entry for loaded in self.files for entry in loaded.entries)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(entry.rule for entry in self.entries)

    def by_name(self) -> dict[str, RuleEntry]:
        return {entry.rule.name: entry for entry in self.entries}

    def __len__(self) -> int:
        return sum(len(loaded.entries) for loaded in self.files)


def rule_files(directory: Path) -> list[Path]:
    """The rule files directly in `directory`, sorted by name."""
    return sorted(
        p for p in directory.iterdir() if p.suffix in RULE_FILE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def load_rule_file(path: str | Path) -> LoadedFile:
    """Read and validate one rule file (names unique within it); RulesError lists every problem."""
    source = str(path)
    try:
        data, root = read_yaml_mapping(path, "a rule file")
    except ConfigError as exc:
        raise RulesError([str(exc)]) from None
    except UnicodeDecodeError as exc:
        raise RulesError([f"{source}: cannot read rule file: not UTF-8 text (byte {exc.start})"]) from None
    try:
        rule_file = RuleFile.model_validate(data, context={"base_dir": Path(path).parent})
    except ValidationError as exc:
        raise RulesError(_describe(err, source, root, data) for err in exc.errors()) from None
    entries = []
    first: dict[str, RuleEntry] = {}
    problems = []
    for g, group in enumerate(rule_file.groups):
        for r, rule in enumerate(group.rules):
            loc = ("groups", g, "rules", r)
            entry = RuleEntry(rule, source, line_of(root, loc), group.name, group.interval, _where(loc, data))
            if rule.name in first:
                problems.append(_duplicate(entry, first[rule.name]))
            first.setdefault(rule.name, entry)
            entries.append(entry)
    if problems:
        raise RulesError(problems)
    return LoadedFile(source, rule_file, tuple(entries))


def load_rules_dir(path: str | Path) -> RuleSet:
    """Every rule file of the directory; RulesError lists the problems of all files (duplicates included)."""
    directory = Path(path)
    if not directory.is_dir():
        raise RulesError([f"{directory}: not a directory of rule files"])
    loaded: list[LoadedFile] = []
    problems: list[str] = []
    for file in rule_files(directory):
        try:
            loaded.append(load_rule_file(file))
        except RulesError as exc:
            problems.extend(exc.problems)
    for i, candidate in enumerate(loaded):
        problems.extend(_conflicts(candidate, loaded[:i]))
    if problems:
        raise RulesError(problems)
    return RuleSet(tuple(loaded))


def _conflicts(candidate: LoadedFile, others: Iterable[LoadedFile]) -> list[str]:
    """One problem per rule of `candidate` whose name a rule of `others` already has."""
    taken = {entry.rule.name: entry for loaded in others for entry in loaded.entries}
    return [
        f"{_at(entry.file, entry.line)}: {entry.where}.name: rule name '{entry.rule.name}' is already used in "
        f"{_at(taken[entry.rule.name].file, taken[entry.rule.name].line)}"
        for entry in candidate.entries
        if entry.rule.name in taken
    ]


def _duplicate(entry: RuleEntry, first: RuleEntry) -> str:
    return (
        f"{_at(entry.file, entry.line)}: {entry.where}.name: rule name '{entry.rule.name}' is already used at line "
        f"{first.line} of this file"
    )


def _at(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line is not None else source


def _describe(err: ErrorDetails, source: str, root: yaml.Node | None, data: dict[str, Any]) -> str:
    """`file:line: groups.0 (seed).rules.1 (error-burst).field: message` for one pydantic error."""
    loc = list(err["loc"])
    # Pydantic puts the union member's tag after the rule's index; it is not in the document.
    if len(loc) > 4 and loc[0] == "groups" and loc[2] == "rules" and loc[4] in KNOWN_TYPES:
        del loc[4]
    message = err["msg"]
    ctx = err.get("ctx", {})
    known = ", ".join(KNOWN_TYPES)
    if err["type"] == "union_tag_invalid":
        loc.append("type")
        message = f"unknown rule type '{ctx.get('tag')}': use one of {known}"
    elif err["type"] == "union_tag_not_found":
        loc.append("type")
        message = f"missing `type`: use one of {known}"
    elif err["type"] == "template_syntax":
        loc.append(ctx["key"])
    elif err["type"] == "duplicate_group":
        loc = [*loc, ctx["index"], "name"]
    line = None
    for end in range(len(loc), 0, -1):  # a field the file lacks: the line of its nearest written parent
        line = line_of(root, tuple(loc[:end]))
        if line is not None:
            break
    return f"{_at(source, line)}: {_where(tuple(loc), data) or '(top level)'}: {message}"


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """The dotted location with group and rule names beside their indexes: `groups.0 (seed).rules.1 (x).window`."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping):
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        name = node.get("name") if isinstance(node, Mapping) and isinstance(part, int) else None
        parts.append(f"{part} ({name})" if isinstance(name, str) and name else str(part))
    return ".".join(parts)


@dataclass(slots=True)
class FileStatus:
    """One rule file as the watcher last saw it."""

    path: str
    ok: bool
    rules: int = 0
    """Rules in force from this file (its last good version when `ok` is false)."""
    error: str | None = None
    loaded_at: datetime | None = None
    """When the version in force was loaded (None: no good version yet)."""
    failed_at: datetime | None = None


@dataclass(slots=True)
class RulesStatus:
    """What `GET /api/v1/rules` and the logs report about the rule directory."""

    directory: str
    files: dict[str, FileStatus] = field(default_factory=dict)
    last_reload_at: datetime | None = None
    rule_count: int = 0
    error: str | None = None
    """A problem with the directory itself (missing, unreadable): every loaded rule stays."""

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.ok for f in self.files.values())

    def as_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        return {
            "directory": self.directory,
            "ok": self.ok,
            "error": self.error,
            "rule_count": self.rule_count,
            "last_reload_at": iso(self.last_reload_at),
            "files": [
                {
                    "path": f.path,
                    "ok": f.ok,
                    "rules": f.rules,
                    "error": f.error,
                    "loaded_at": iso(f.loaded_at),
                    "failed_at": iso(f.failed_at),
                }
                for f in self.files.values()
            ],
        }


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one `RulesWatcher.check()` did: the rules now in force and how they differ from before."""

    ruleset: RuleSet
    changed: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    """Names whose settings, group or file changed: their state should start over."""
    errors: tuple[str, ...] = ()
    """Problems found by this check (the files they name keep their previous rules)."""


class RulesWatcher:
    """Reloads the rule directory when its files change; call `check()` every `interval` seconds.

    The first `check()` loads everything. Each later one re-reads only what changed (and files still in
    error, whose problem may have been another file). A file that fails keeps its previous rules.
    """

    def __init__(
        self, path: str | Path, *, interval: float = 2.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.path = Path(path)
        self.interval = interval
        self.status = RulesStatus(str(self.path))
        self.ruleset = RuleSet()
        self._clock = clock
        self._digests: dict[str, bytes] = {}
        self._good: dict[str, LoadedFile] = {}

    def check(self, *, force: bool = False) -> ReloadOutcome:
        """Reload changed files (all of them with `force`, as on SIGHUP) and report the outcome."""
        try:
            files = rule_files(self.path)
        except OSError as exc:
            self.status.error = f"{self.path}: cannot list rule files: {exc.strerror or exc}; the loaded rules stay"
            return ReloadOutcome(self.ruleset, changed=False, errors=(self.status.error,))
        self.status.error = None
        digests = {str(p): _digest(p) for p in files}
        changed = {name for name, digest in digests.items() if self._digests.get(name) != digest}
        gone = set(self._digests) - set(digests)
        if not (changed or gone or force):
            return ReloadOutcome(self.ruleset, changed=False)
        retry = {name for name, status in self.status.files.items() if not status.ok and name in digests}
        now = self._clock()
        for name in gone:
            self._good.pop(name, None)
            self.status.files.pop(name, None)
        errors: list[str] = []
        for name in sorted(set(digests) if force else changed | retry):
            errors.extend(self._reload_file(name, now))
        self._digests = digests
        before = self.ruleset
        self.ruleset = RuleSet(tuple(self._good[name] for name in sorted(self._good)))
        self.status.last_reload_at = now
        self.status.rule_count = len(self.ruleset)
        old, new = before.by_name(), self.ruleset.by_name()
        updated = tuple(sorted(n for n in old.keys() & new.keys() if _identity(old[n]) != _identity(new[n])))
        added, removed = tuple(sorted(new.keys() - old.keys())), tuple(sorted(old.keys() - new.keys()))
        return ReloadOutcome(
            self.ruleset, bool(added or removed or updated), added, removed, updated, errors=tuple(errors)
        )

    def _reload_file(self, name: str, now: datetime) -> list[str]:
        previous = self._good.get(name)
        status = self.status.files.setdefault(name, FileStatus(name, ok=False))
        try:
            candidate = load_rule_file(name)
            problems = _conflicts(candidate, (f for n, f in self._good.items() if n != name))
        except RulesError as exc:
            problems = list(exc.problems)
        if problems:
            status.ok, status.error, status.failed_at = False, "\n".join(problems), now
            status.rules = len(previous.entries) if previous else 0
            return problems
        if previous != candidate:
            self._good[name] = candidate
            status.loaded_at = now
        status.ok, status.error, status.failed_at, status.rules = True, None, None, len(candidate.entries)
        return []


def _identity(entry: RuleEntry) -> tuple[Rule, str, timedelta | None]:
    """What makes a rule the same rule: moving it within its file or to another file keeps its state."""
    return entry.rule, entry.group, entry.interval


def _digest(path: Path) -> bytes:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return b"unreadable"
