"""Libraries imported on first use (logwarden.lazy): what the server's start-up leaves out of its memory."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

from logwarden.lazy import LazyModule, lazy_module
from logwarden.meta.migrate import head_revision, shipped_head


def _fresh(code: str) -> dict[str, object]:
    """Run `code` in a new interpreter (nothing imported yet); it prints one JSON object."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_imported_module_is_returned_as_it_is() -> None:
    assert lazy_module("json") is json


def test_a_lazy_module_imports_on_first_attribute_read() -> None:
    probe = _fresh(
        "import json, sys\n"
        "from logwarden.lazy import lazy_module\n"
        "m = lazy_module('colorsys')\n"
        "before = 'colorsys' in sys.modules\n"
        "value = m.rgb_to_hsv(1.0, 0.0, 0.0)\n"
        "print(json.dumps({'before': before, 'after': 'colorsys' in sys.modules, 'value': list(value),"
        " 'dir': 'hsv_to_rgb' in dir(m)}))"
    )
    assert probe == {"before": False, "after": True, "value": [0.0, 1.0, 1.0], "dir": True}


def test_a_lazy_module_is_a_module() -> None:
    m = LazyModule("logwarden.no_such_module_here")
    assert isinstance(m, types.ModuleType) and m.__name__ == "logwarden.no_such_module_here"


def test_the_server_app_does_not_import_polars_until_a_feature_uses_it() -> None:
    probe = _fresh(
        "import json, sys\n"
        "from logwarden.api.app import create_app\n"
        "started = 'polars' in sys.modules\n"
        "import pyarrow as pa\n"
        "from logwarden.model.attrs_json import json_values\n"
        "text = json_values(pa.array([[1, 2], None])).to_pylist()  # a nested value: polars encodes it\n"
        "print(json.dumps({'at_start': started, 'after_use': 'polars' in sys.modules, 'text': text}))"
    )
    assert probe == {"at_start": False, "after_use": True, "text": ["[1,2]", None]}


def test_the_server_app_does_not_import_the_parquet_writer_until_the_archive_writes(tmp_path: Path) -> None:
    probe = _fresh(
        "import json, sys\n"
        "from logwarden.api.app import create_app\n"
        "parts = ('pyarrow.dataset', 'pyarrow.parquet', 'pyarrow.parquet.encryption')\n"
        "started = [m for m in parts if m in sys.modules]\n"
        "import pyarrow as pa\n"
        "from logwarden.store.archive import ParquetArchive\n"
        f"archive = ParquetArchive({str(tmp_path)!r})\n"
        "table = pa.table({'message': ['a', 'b']})\n"
        f"rows = archive.write({str(tmp_path / 'part-1.parquet')!r}, pa.RecordBatchReader.from_batches("
        "table.schema, table.to_batches()))\n"
        "print(json.dumps({'at_start': started, 'after_write': 'pyarrow.parquet' in sys.modules, 'rows': rows}))"
    )
    assert probe == {"at_start": [], "after_write": True, "rows": 2}


def test_the_server_app_does_not_import_ua_parser_until_a_user_agent_is_parsed() -> None:
    probe = _fresh(
        "import json, sys\n"
        "from logwarden.api.app import create_app\n"
        "started = 'ua_parser' in sys.modules\n"
        "from logwarden.pipeline.enrich.user_agent import _shared_parser, parse_user_agent\n"
        "agent = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'\n"
        "fields = parse_user_agent(_shared_parser(), agent)\n"
        "print(json.dumps({'at_start': started, 'after_use': 'ua_parser' in sys.modules,"
        " 'browser': fields['browser']}))"
    )
    assert probe == {"at_start": False, "after_use": True, "browser": "Firefox"}


def test_alembic_is_imported_only_when_the_metadata_schema_must_change(tmp_path: Path) -> None:
    opening = (
        "import json, sys\n"
        "from logwarden.meta.db import MetaDB\n"
        f"db = MetaDB('sqlite:///{tmp_path / 'meta.sqlite'}')\n"
        "result = db.migration\n"
        "db.close()\n"
        "print(json.dumps({'before': result.before, 'after': result.after, 'alembic': 'alembic' in sys.modules}))"
    )
    head = head_revision()
    assert _fresh(opening) == {"before": None, "after": head, "alembic": True}  # an empty database: migrated
    assert _fresh(opening) == {"before": head, "after": head, "alembic": False}  # at head: plain SQLAlchemy


def test_the_head_read_without_alembic_is_alembics_head() -> None:
    assert shipped_head() == head_revision()


def test_the_server_app_does_not_import_snappy_until_a_compressed_push_or_a_remote_write() -> None:
    probe = _fresh(
        "import json, sys\n"
        "from logwarden.api.app import create_app\n"
        "started = [m for m in ('cramjam', 'logwarden.logmetrics.prompb') if m in sys.modules]\n"
        "from logwarden.ingest.http.loki_decode import unsnappy\n"
        "body = bytes.fromhex('0920' + '78' * 9)  # snappy's raw form of b'x' * 9: its length, one literal\n"
        "text = unsnappy(body, 100).decode()\n"
        "print(json.dumps({'at_start': started, 'after_use': 'cramjam' in sys.modules, 'text': text}))"
    )
    assert probe == {"at_start": [], "after_use": True, "text": "x" * 9}


def test_the_server_app_and_the_notification_queue_do_not_import_sqlalchemys_orm(tmp_path: Path) -> None:
    probe = _fresh(
        "import json, sys\n"
        "from datetime import datetime, timezone\n"
        "from logwarden.api.app import create_app\n"
        "from logwarden.meta.db import MetaDB\n"
        "from logwarden.alerting.notify.queue import NotificationQueue\n"
        f"db = MetaDB('sqlite:///{tmp_path / 'meta.sqlite'}')\n"
        "claimed = NotificationQueue(db.engine).claim(datetime(2026, 1, 1, tzinfo=timezone.utc), 10)\n"
        "db.close()\n"
        "print(json.dumps({'orm': 'sqlalchemy.orm' in sys.modules, 'claimed': len(claimed)}))"
    )
    assert probe == {"orm": False, "claimed": 0}  # the queue's self-join is Core's alias: ~6 MB resident saved


def test_the_stream_filters_make_their_duckdb_on_first_use() -> None:
    probe = _fresh(
        "import json\n"
        "import pyarrow as pa\n"
        "from logwarden.api.app import create_app\n"
        "from logwarden.query import filter as stream_filter\n"
        "started = stream_filter._database.cache_info().currsize\n"
        "cur = stream_filter._cursor()\n"
        "one = cur.execute('SELECT 1').fetchall()[0][0]\n"
        "print(json.dumps({'at_start': started, 'after_use': stream_filter._database.cache_info().currsize,"
        " 'one': one}))"
    )
    assert probe == {"at_start": 0, "after_use": 1, "one": 1}  # ~5 MB resident only once a filter runs
