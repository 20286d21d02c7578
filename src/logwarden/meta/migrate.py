"""Schema migrations of the metadata database: Alembic, run from code at start, shipped in the package.

`upgrade` brings a database to the newest revision in `meta/migrations/versions/`. A database made before
migrations existed (the tables, no `alembic_version`) is stamped at the baseline first. On PostgreSQL the
whole upgrade runs in one transaction holding an advisory lock, so servers starting together migrate once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, MetaData, inspect, text

# Before alembic is imported: importing it logs every plugin it sets up at INFO, on every server start, ahead
# of the server's banner; and "Context impl SQLiteImpl" at each migration. The one line we log says what changed.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "logwarden.meta:migrations"
# The first revision: the schema as `metadata.create_all` made it before there were migrations.
BASELINE = "0001"
BASELINE_TABLES = ("saved_searches",)
# pg_advisory_xact_lock key: any constant 64-bit number that only logwarden's metadata migrations use.
ADVISORY_LOCK_KEY = 0x6C6F_6777_6D65_7461  # "logwmeta"
# `revision: str = "0007"` and `down_revision: ... = "0006"` lines of the shipped scripts (see shipped_head).
_REVISION_RE = re.compile(r'^(down_revision|revision)\b[^=\n]*=\s*(?:"([^"]*)"|None)\s*$', re.M)


class MetaSchemaError(Exception):
    """The metadata database cannot be brought to the schema this logwarden uses."""


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    """What `upgrade` found and did: the revision before (None: empty database) and after, and whether a
    database from before migrations was stamped at the baseline."""

    before: str | None
    after: str
    stamped: bool


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """Alembic's configuration without an alembic.ini: the shipped scripts, run on the given connection."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # r0002_add_rules.py: a valid module name, so ruff and mypy check the revisions like any other code.
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    """The migration scripts shipped in the package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this logwarden knows."""
    head = scripts().get_current_head()
    assert head is not None, "the package ships at least the baseline revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has no `alembic_version` (empty, or made before
    migrations existed)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as con:
        return MigrationContext.configure(con).get_current_revision()


def upgrade(engine: Engine) -> UpgradeResult:
    """Migrate the database to the head revision, in one transaction (SQLite and PostgreSQL both have
    transactional DDL); on PostgreSQL under an advisory lock that a second process waits for.

    A database already at the head is recognised with plain SQLAlchemy: alembic (~11 MB resident) is imported
    only when there is something to migrate."""
    shipped = shipped_head()
    if shipped is not None and _database_revision(engine) == shipped:
        return UpgradeResult(shipped, shipped, False)
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    script = scripts()
    head = script.get_current_head()
    assert head is not None, "the package ships at least the baseline revision"
    with engine.begin() as con:
        if con.dialect.name == "postgresql":
            # Released with the transaction; whoever waited then finds the database at head.
            con.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        before = MigrationContext.configure(con).get_current_revision()
        if before is not None and before not in {rev.revision for rev in script.walk_revisions()}:
            where = engine.url.render_as_string(hide_password=True)
            raise MetaSchemaError(
                f"metadata database {where} is at schema revision {before!r}, which this logwarden does not "
                f"know (its newest is {head!r}): a newer logwarden migrated it; run that version or restore a backup"
            )
        config = alembic_config(con)
        stamped = before is None and _has_tables_from_before_migrations(con)
        if stamped:
            command.stamp(config, BASELINE)
        if before != head:
            command.upgrade(config, "head")
    if before != head:
        log.info("metadata database: schema %s → %s%s", before, head, " (stamped at baseline)" if stamped else "")
    return UpgradeResult(before, head, stamped)


def schema_differences(engine: Engine, models: MetaData | None = None) -> list[Any]:
    """What `alembic revision --autogenerate` would write: the differences between the tables in
    `meta/tables.py` (or `models`) and the database. Empty on a migrated database unless a model change
    lacks its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from logwarden.meta.tables import metadata

    with engine.connect() as con:
        context = MigrationContext.configure(con, opts={"compare_type": True})
        return list(compare_metadata(context, models if models is not None else metadata))


def _has_tables_from_before_migrations(con: Connection) -> bool:
    names = set(inspect(con).get_table_names())
    return any(table in names for table in BASELINE_TABLES)


def shipped_head() -> str | None:
    """The newest revision of the shipped scripts, read from their `revision`/`down_revision` lines without
    alembic; None when that is not one plain chain head (alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    versions = resources.files("logwarden.meta.migrations").joinpath("versions")
    for script in versions.iterdir():
        if not script.name.endswith(".py") or script.name.startswith("__"):
            continue
        found = dict((key, value) for key, value in _REVISION_RE.findall(script.read_text(encoding="utf-8")))
        if "revision" not in found or not found["revision"] or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _database_revision(engine: Engine) -> str | None:
    """The single revision in the database's `alembic_version`; None when it has none or several."""
    with engine.connect() as con:
        if not inspect(con).has_table("alembic_version"):
            return None
        rows = con.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None
