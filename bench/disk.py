#!/usr/bin/env python3
"""Where logwarden's disk bytes go: peers.py's lines into `logwarden serve`, a clean stop, the data dir broken down.

    python bench/disk.py [--lines 300000] [--keep-data]

The load is peers.py's (same NDJSON, same HTTP ingest, a clean stop); then every file of the data dir is
measured, and every column of hot.duckdb's and series.duckdb's tables from DuckDB's `pragma_storage_info`
(segment offsets within blocks: an estimate within a block's free tail), with the file's used and free
blocks. Prints one JSON object: totals, bytes per line and per raw byte, per file group, per table and per
column. `--data-dir` breaks down a stopped data dir instead. Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from _common import dir_bytes
from peers import Ui, load_engine
from peers_engines import Logwarden
from peers_load import ndjson_dataset


def file_groups(data_dir: Path) -> dict[str, int]:
    """Bytes per file of the data dir (hot.duckdb, logmetrics/series.duckdb, ...), the ingest log's and the
    quarantine's segments summed per directory."""
    groups: dict[str, int] = defaultdict(int)
    for path in data_dir.rglob("*"):
        if path.is_file():
            rel = path.relative_to(data_dir)
            many = rel.parent.name in ("ingest-log", "quarantine")
            groups[str(rel.parent if many else rel)] += path.stat().st_size
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def column_bytes(db_file: Path) -> dict[str, dict[str, int]]:
    """Bytes per column of every table of `db_file` (summed over the day tables) and per table, from
    `pragma_storage_info`: a segment spans from its offset to the next segment's in its block (the block's
    end for the last one; its extra blocks whole), so the free tail of a partly used block is counted too."""
    con = duckdb.connect(str(db_file), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()]
    segments: list[tuple[str, str, int, int, int]] = []  # table, column, block, offset, extra blocks
    for table in tables:
        quoted = table.replace("'", "''")
        rows = con.execute(
            f"SELECT column_name, block_id, block_offset, len(additional_block_ids) "
            f"FROM pragma_storage_info('\"{quoted}\"') WHERE persistent AND block_id >= 0"
        ).fetchall()
        segments += [(table, column, block, offset, extra) for column, block, offset, extra in rows]
    total, free, block_size = con.execute(
        "SELECT total_blocks, free_blocks, block_size FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchall()[0]
    con.close()
    blocks = {"(used blocks)": (int(total) - int(free)) * int(block_size), "(free blocks)": int(free) * int(block_size)}
    by_block: dict[int, list[int]] = defaultdict(list)
    for _t, _c, block, offset, _e in segments:
        by_block[block].append(offset)
    for offsets in by_block.values():
        offsets.sort()
    per_column: dict[str, int] = defaultdict(int)
    per_table: dict[str, int] = defaultdict(int, blocks)
    for table, column, block, offset, extra in segments:
        offsets = by_block[block]
        following = [o for o in offsets if o > offset]
        size = (following[0] if following else int(block_size)) - offset + extra * int(block_size)
        day_table = table.startswith("logs$")
        per_column[column if day_table else f"{table}.{column}"] += size
        per_table["logs$*" if day_table else table] += size
    return {
        "columns": dict(sorted(per_column.items(), key=lambda kv: -kv[1])),
        "tables": dict(sorted(per_table.items(), key=lambda kv: -kv[1])),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=300_000)
    p.add_argument("--hours", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--batch-lines", type=int, default=1000)
    p.add_argument("--cache-dir", default="/tmp/logwarden-bench-peers")
    p.add_argument("--data-dir", help="break down this stopped data dir instead of loading a new one")
    p.add_argument("--keep-data", action="store_true")
    args = p.parse_args(argv)
    ui = Ui(verbose=True)
    data = ndjson_dataset(
        lines=args.lines, seed=args.seed, hours=args.hours, batch_lines=args.batch_lines,
        cache_dir=Path(args.cache_dir), reload=False, say=ui.say,
    )  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="logwarden-disk-"))
    report: dict[str, Any] = {"lines": data.lines, "raw_bytes": data.raw_bytes}
    try:
        if args.data_dir:
            data_dir = Path(args.data_dir)
        else:
            data_dir = tmp / "logwarden"
            load: dict[str, Any] = {}
            load_engine(Logwarden(data_dir), data, args, ui, load)
            report["load"] = {k: v for k, v in load.items() if k != "answers"}
        disk, _allocated, files = dir_bytes(data_dir)
        report |= {
            "disk_bytes": disk,
            "disk_files": files,
            "bytes_per_line": round(disk / data.lines, 2),
            "bytes_per_raw_byte": round(disk / data.raw_bytes, 4),
            "files": {k: round(v / data.lines, 2) for k, v in file_groups(data_dir).items()},
        }
        hot = next(data_dir.rglob("hot.duckdb"), None)  # peers.py's server keeps its data in <dir>/data
        if hot is not None:
            columns = column_bytes(hot)
            report["hot_columns_bytes_per_line"] = {k: round(v / data.lines, 2) for k, v in columns["columns"].items()}
            report["hot_tables_bytes_per_line"] = {k: round(v / data.lines, 2) for k, v in columns["tables"].items()}
        series = next(data_dir.rglob("series.duckdb"), None)
        if series is not None:
            columns = column_bytes(series)
            report["series_columns_bytes_per_line"] = {
                k: round(v / data.lines, 2) for k, v in columns["columns"].items()
            }
            report["series_tables_bytes_per_line"] = {k: round(v / data.lines, 2) for k, v in columns["tables"].items()}
    finally:
        if args.keep_data:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
