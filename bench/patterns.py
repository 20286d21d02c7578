"""Pattern miner benchmark: grouping quality on a labeled corpus, miner speed, ingest cost, memory.

    python bench/patterns.py [--lines 2000] [--speed-lines 200000] [--adversarial-lines 100000]

1. **Quality.** For each family of tests/patterns_corpus.py (`--lines` lines each, mined in batches of 500 as
   ingest would, ids as assigned online): grouping accuracy (GA: a line is right when the lines sharing its
   predicted id are exactly the lines sharing its true template) and FGA (F1 of predicted templates that
   match a true template's lines exactly), and their means over families.
2. **Miner speed per core** (polars limited to one thread; lines / process CPU seconds) on ordinary logs (all
   families mixed, one service each, 1000-line batches; warmed on one draw of the corpus, timed on new draws:
   the same kinds of line with new values), on the warm-up draw again (`_repeated`: every line's key known,
   the best case) and on adversarial text (never-repeating random words: every line is a new form and goes
   through the tree).
3. **Ingest cost.** NDJSON bodies of 1000 lines (corpus messages with level, service, host, trace id and
   attributes) through the decode pool's work (`to_core_batch`: decode, normalize, mine) with the miner
   and without, rounds interleaved in the same run, best of 3, each round a new draw of the corpus (the
   miner's caches never see a line twice); and the same with the DuckDB store's append of each batch added
   (`--store`), which is closer to what a client waits for.
4. **Memory** under a stream of never-repeating lines: RSS, templates, form- and key-cache entries after each
   tenth of `--memory-lines` (default settings), which must level off.

Prints one JSON object on stdout; progress on stderr. Timings on shared machines are noisy: compare ratios.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # per-core figures: polars must not spread over cores

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psutil
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import log  # noqa: E402 - after the path setup
from logwarden.ingest.ndjson import decode_json_body  # noqa: E402 - after the path setup
from logwarden.ingest.sink import to_core_batch  # noqa: E402 - after the path setup
from logwarden.model.normalize import BatchContext  # noqa: E402 - after the path setup
from logwarden.patterns.miner import PatternMiner  # noqa: E402 - after the path setup
from tests.patterns_corpus import FAMILIES, adversarial_lines, family_lines, grouping_scores  # noqa: E402 - after the path setup


def mine(miner: PatternMiner, messages: list[str], service: str, batch: int) -> list[str | None]:
    out: list[str | None] = []
    for start in range(0, len(messages), batch):
        chunk = messages[start : start + batch]
        n = len(chunk)
        out += miner.ids(pa.array(["bench"] * n), pa.array([service] * n), pa.array(chunk)).to_pylist()
    return out


def quality(lines: int) -> dict[str, Any]:
    families: dict[str, dict[str, float | int]] = {}
    for name in FAMILIES:
        labeled = family_lines(name, lines)
        miner = PatternMiner()
        predicted = mine(miner, [m for m, _ in labeled], name, 500)
        ga, fga = grouping_scores(predicted, [t for _, t in labeled])
        families[name] = {
            "ga": round(ga, 3),
            "fga": round(fga, 3),
            "templates": miner.template_count(),
            "true_templates": len(FAMILIES[name]),
        }
        log(f"{name}: GA {ga:.3f} FGA {fga:.3f}")
    n = len(families)
    return {
        "families": families,
        "mean_ga": round(sum(float(f["ga"]) for f in families.values()) / n, 3),
        "mean_fga": round(sum(float(f["fga"]) for f in families.values()) / n, 3),
    }


def cpu_rate(lines: int, fn: Callable[[], Any]) -> float:
    start = time.process_time()
    fn()
    return lines / (time.process_time() - start)


def ordinary_messages(total: int, seed: int = 3) -> list[tuple[str, str]]:
    """(service, message) of all families mixed, in 1000-line runs per service as sources send them."""
    per = total // len(FAMILIES) + 1
    pools = {name: [m for m, _ in family_lines(name, per, seed=seed)] for name in FAMILIES}
    out: list[tuple[str, str]] = []
    for start in range(0, per, 1000):
        for name, pool in pools.items():
            out += [(name, m) for m in pool[start : start + 1000]]
    return out[:total]


def corpus_batches(total: int, seed: int) -> list[tuple[pa.Array, pa.Array, pa.Array]]:
    """(tenant, service, message) arrays of `ordinary_messages`, 1000 lines each."""
    ordinary = ordinary_messages(total, seed)
    return [
        (pa.array(["bench"] * len(chunk)), pa.array([s for s, _ in chunk]), pa.array([m for _, m in chunk]))
        for chunk in (ordinary[i : i + 1000] for i in range(0, len(ordinary), 1000))
    ]


def miner_speed(speed_lines: int, adversarial: int) -> dict[str, float]:
    # Warmed on one draw of the corpus, timed on another (the same kinds of line with new values, as a live
    # stream brings them) and on the first draw again (every line's digits-alike key known: the best case).
    warm = corpus_batches(speed_lines, seed=3)
    fresh_batches = [corpus_batches(speed_lines // 2, seed=4), corpus_batches(speed_lines // 2, seed=5)]
    miner = PatternMiner()
    for t, s, m in warm:
        miner.ids(t, s, m)

    def run(batches: list[tuple[pa.Array, pa.Array, pa.Array]]) -> list[pa.Array]:
        return [miner.ids(t, s, m) for t, s, m in batches]

    ordinary_rate = max(cpu_rate(speed_lines // 2, partial(run, b)) for b in fresh_batches)
    repeated_rate = max(cpu_rate(speed_lines, partial(run, warm)) for _ in range(2))
    log(f"miner, ordinary, new values: {ordinary_rate:,.0f} lines/s per core; repeated: {repeated_rate:,.0f}")
    adv = adversarial_lines(adversarial)
    adv_batches = [
        (pa.array(["bench"] * len(chunk)), pa.array(["noise"] * len(chunk)), pa.array(chunk))
        for chunk in (adv[i : i + 1000] for i in range(0, len(adv), 1000))
    ]
    fresh = PatternMiner()
    adversarial_rate = cpu_rate(len(adv), lambda: [fresh.ids(t, s, m) for t, s, m in adv_batches])
    log(f"miner, adversarial: {adversarial_rate:,.0f} lines/s per core ({fresh.new_forms} new forms)")
    return {
        "miner_lines_per_cpu_s_ordinary": round(ordinary_rate),
        "miner_lines_per_cpu_s_ordinary_repeated": round(repeated_rate),
        "miner_lines_per_cpu_s_adversarial": round(adversarial_rate),
        "adversarial_new_form_share": round(fresh.new_forms / len(adv), 3),
    }


def ndjson_bodies(total: int, seed: int = 5, message_seed: int = 3) -> list[bytes]:
    r = random.Random(seed)
    now = datetime.now(UTC)
    bodies = []
    messages = ordinary_messages(total, message_seed)
    for start in range(0, total, 1000):
        records = []
        for service, message in messages[start : start + 1000]:
            records.append(
                orjson.dumps(
                    {
                        "ts": (now - timedelta(seconds=r.random() * 300)).isoformat(),
                        "level": r.choice(["info", "info", "info", "warn", "error", "debug"]),
                        "service": service,
                        "host": f"{service}-{r.randint(1, 8)}",
                        "msg": message,
                        "trace_id": f"{r.getrandbits(128):032x}",
                        "latency_ms": r.randint(1, 900),
                        "http": {"status": r.choice([200, 200, 404, 500])},
                    }
                )
            )
        bodies.append(b"\n".join(records))
    return bodies


def ingest_bench_bodies(total: int, seed: int = 20240601) -> list[bytes]:
    """bench/ingest.py's own request bodies (padded lines: nearly every one a new masked form), 1000 lines each."""
    import ingest as ingest_bench  # bench/ingest.py, on the path set above

    bodies, _ = ingest_bench.build_bodies(pool_lines=total, batch_lines=1000, line_bytes=220, seed=seed, use_gzip=False)
    return [b.raw for b in bodies]


def ingest_cost(lines: int, with_store: bool, source: str = "corpus") -> dict[str, float]:
    # Each round's bodies are a new draw (new values, the same kinds of line, as a live stream brings them): the
    # miner's caches must not see the very lines again. Off and on time the same bodies within a round.
    def draw(r: int, total: int) -> list[bytes]:
        if source == "corpus":
            return ndjson_bodies(total, seed=5 + r, message_seed=10 + r)
        return ingest_bench_bodies(total, seed=20240601 + r)

    rounds = [draw(r, lines) for r in range(1, 4)]
    ctx = BatchContext("bench", "http", datetime.now(UTC))
    miner = PatternMiner()
    for body in draw(0, 10_000):  # warm-up: first sight of each kind of line
        to_core_batch(decode_json_body(body), ctx, miner=miner)

    def decode_pool(use: PatternMiner | None, bodies: list[bytes]) -> list[pa.Table]:
        return [to_core_batch(decode_json_body(body), ctx, miner=use).table for body in bodies]

    best: dict[str, float] = {"off": 0.0, "on": 0.0}
    for bodies in rounds:
        for label, use in (("off", None), ("on", miner)):
            best[label] = max(best[label], cpu_rate(lines, partial(decode_pool, use, bodies)))
    out = {
        "decode_lines_per_cpu_s_mining_off": round(best["off"]),
        "decode_lines_per_cpu_s_mining_on": round(best["on"]),
        "decode_cost_of_mining": round(1 - best["on"] / best["off"], 3),
        "decode_forms_through_the_tree": miner.new_forms,  # over the warm-up and every pass
        "decode_unsearched_forms": miner.unsearched_forms,
    }
    log(f"decode pool: off {best['off']:,.0f}, on {best['on']:,.0f} lines/s per core")
    if with_store:
        out.update(store_cost([draw(r, lines) for r in (4, 5)], ctx, miner))  # new draws: unseen by the miner
    return out


def store_cost(rounds: list[list[bytes]], ctx: BatchContext, miner: PatternMiner) -> dict[str, float]:
    """Decode, normalize, (mine,) and append to a real DuckDB store, CPU time of the whole process."""
    from logwarden.config import load_config
    from logwarden.store.duckdb import DuckDBStore

    best: dict[str, float] = {"off": 0.0, "on": 0.0}
    for bodies in rounds:
        lines = sum(body.count(b"\n") + 1 for body in bodies)
        for label, use in (("off", None), ("on", miner)):
            with tempfile.TemporaryDirectory() as tmp:
                config = load_config(None, env={}, overrides={"data_dir": tmp, "store.retention_days": 36500})

                async def run(
                    use: PatternMiner | None = use, config: Any = config, bodies: list[bytes] = bodies
                ) -> float:
                    store = DuckDBStore(config)
                    start = time.process_time()
                    for body in bodies:
                        await store.append(to_core_batch(decode_json_body(body), ctx, miner=use).table)
                    await store.flush()
                    spent = time.process_time() - start
                    await store.close()
                    return spent

                best[label] = max(best[label], lines / asyncio.run(run()))
    log(f"with the store: off {best['off']:,.0f}, on {best['on']:,.0f} lines/s per core")
    return {
        "store_lines_per_cpu_s_mining_off": round(best["off"]),
        "store_lines_per_cpu_s_mining_on": round(best["on"]),
        "store_cost_of_mining": round(1 - best["on"] / best["off"], 3),
    }


def memory(lines: int) -> dict[str, Any]:
    process = psutil.Process()
    miner = PatternMiner()
    stream = adversarial_lines(lines, seed=99)
    points = []
    step = lines // 10
    for start in range(0, lines, step):
        for i in range(start, min(lines, start + step), 1000):
            chunk = stream[i : min(i + 1000, start + step)]
            miner.ids(pa.array(["bench"] * len(chunk)), pa.array(["noise"] * len(chunk)), pa.array(chunk))
        points.append(
            {
                "lines": min(lines, start + step),
                "rss_mb": round(process.memory_info().rss / 2**20, 1),
                "templates": miner.template_count(),
                "forms": len(miner.forms),
                "keys": len(miner.keys),
            }
        )
    log(f"memory: {points[-1]}")
    return {"memory_never_repeating": points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2000, help="lines per corpus family (quality)")
    parser.add_argument("--speed-lines", type=int, default=200_000)
    parser.add_argument("--adversarial-lines", type=int, default=100_000)
    parser.add_argument("--ingest-lines", type=int, default=100_000)
    parser.add_argument("--memory-lines", type=int, default=300_000)
    parser.add_argument("--store", action="store_true", help="also time ingest with the DuckDB store's append")
    parser.add_argument(
        "--ingest-source",
        choices=("corpus", "ingest"),
        default="corpus",
        help="bodies of the ingest-cost step: the labeled corpus (ordinary logs) or bench/ingest.py's padded lines",
    )
    parser.add_argument("--only-ingest", action="store_true", help="run the ingest-cost step alone")
    args = parser.parse_args()
    if args.only_ingest:
        print(json.dumps(ingest_cost(args.ingest_lines, args.store, args.ingest_source)))
        return
    result: dict[str, Any] = {"polars_threads": os.environ["POLARS_MAX_THREADS"]}
    result.update(quality(args.lines))
    result.update(miner_speed(args.speed_lines, args.adversarial_lines))
    result.update(ingest_cost(args.ingest_lines, args.store, args.ingest_source))
    result.update(memory(args.memory_lines))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
