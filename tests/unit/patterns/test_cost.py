"""The miner's cheap paths give the same answers as the plain ones: each line alike but for its digits to one
seen before skips masking (the key cache), each distinct key is masked once, a
per-batch budget of forms goes through the similarity search (the rest start a template of their own, with
stable ids), evicted templates keep their text for the recorder."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from logwarden.patterns.masking import Masker
from logwarden.patterns.miner import MinerSettings, PatternMiner


def ids(miner: PatternMiner, messages: list[str | None], service: str = "api") -> list[str | None]:
    n = len(messages)
    return miner.ids(pa.array(["t"] * n), pa.array([service] * n), pa.array(messages, pa.string())).to_pylist()


def test_repeated_and_null_lines_get_the_ids_of_lines_mined_one_by_one() -> None:
    batch: list[str | None] = ["disk sda full", None, "user 7 logged in", "disk sda full", None, "user 9 logged in"]
    one_by_one = PatternMiner()
    expected = [ids(one_by_one, [m])[0] for m in batch]
    got = ids(PatternMiner(), batch)
    assert got == expected
    assert got[1] is None and got[4] is None
    assert got[0] == got[3] and got[2] == got[5] and got[0] != got[2]


def test_forms_past_the_batch_budget_start_their_own_template_with_stable_ids() -> None:
    miner = PatternMiner(MinerSettings(max_new_forms=2))
    # Five forms of one kind (the first word varies: one leaf, joinable), the first two with the most lines.
    batch = ["open file alpha ok"] * 3 + ["open file beta ok"] * 2 + ["open file gamma ok", "open file delta ok"]
    batch += ["open file omega ok"]
    first = ids(miner, batch)
    assert None not in first
    assert miner.unsearched_forms == 3
    assert first[0] == first[3]  # alpha and beta, searched: one template (generalized)
    assert len(set(first[5:])) == 3  # past the budget: each its own template, no search
    # The same lines again: every form is cached now, the ids do not move.
    assert ids(miner, batch) == first
    # A new miner with room for every form would have made one template of them all.
    roomy = ids(PatternMiner(), batch)
    assert len(set(roomy)) == 1


def test_an_unsearched_form_seen_again_after_its_cache_entry_is_gone_finds_its_template() -> None:
    miner = PatternMiner(MinerSettings(max_new_forms=0))
    (first,) = ids(miner, ["queue depth 12 on shard seven"])
    miner.forms.clear()
    assert ids(miner, ["queue depth 40 on shard seven"]) == [first]


def test_the_recorder_gets_the_text_of_an_evicted_template_from_the_miner() -> None:
    miner = PatternMiner(MinerSettings(max_templates=10))
    (gone,) = ids(miner, ["disk sda is full"])
    ids(miner, [f"unrelated{i} kind of line number{i}" + " x" * i for i in range(12)])  # 3 evicted
    assert miner.template("t", "api", gone) is None
    assert miner.template_text("t", "api", gone) == "disk sda is full"
    assert miner.template_text("t", "api", "0000000000000000") is None
    assert miner.template_text("t", "other", gone) is None


class CountingMasker(Masker):
    """A real masker that counts the messages it masks."""

    def __init__(self) -> None:
        super().__init__()
        self.masked = 0

    def mask(self, messages: pa.Array | pa.ChunkedArray | pl.Series) -> pl.Series:
        self.masked += len(messages)
        return super().mask(messages)


def test_lines_alike_but_for_their_digits_skip_masking_and_get_the_same_ids() -> None:
    miner = PatternMiner()
    miner.masker = counting = CountingMasker()
    first = ids(miner, ["GET /a 200 in 39ms", "job 7 done", "GET /b 404 in 5ms"])
    assert counting.masked == 3
    again = ids(miner, ["GET /a 500 in 12ms", "job 3 done", "job 9 done", "GET /a 200 in 139ms"])
    assert counting.masked == 3  # "139ms": a run's length counts for no kind there (masking.digit_runs_alike)
    assert again == [first[0], first[1], first[1], first[0]]
    assert first[0] == first[2]  # and the template counts every line, masked or not
    (get, job) = sorted(miner.templates("t", "api"), key=lambda t: t.text)
    assert (get.count, job.count) == (4, 3)


def test_a_digit_run_whose_length_a_kind_counts_tells_keys_apart() -> None:
    # Lines alike but for the lengths of digit runs no kind counts skip masking (masking.digit_runs_alike); a
    # run whose length a kind counts is masked again.
    miner = PatternMiner()
    miner.masker = counting = CountingMasker()
    (first,) = ids(miner, ["conn 10.0.0.1:80 ok"])
    (octets,) = ids(miner, ["conn 192.168.100.7:80 ok"])  # octets of 1-3 digits are alike: no masking
    assert counting.masked == 1
    (port, no_ip) = ids(miner, ["conn 10.0.0.1:8080 ok", "conn 1000.0.0.1:80 ok"])  # `:\d{1,5}`, `\d{1,3}\.`
    assert counting.masked == 3
    assert first == octets == port == no_ip  # (one template: `<ip>` and `<num>.<num>:<num>` differ in one token)
    assert miner.masked_text("conn 1000.0.0.1:80 ok") == "conn <num>.<num>:<num> ok"  # why it had to be masked


def test_without_the_number_kind_digits_tell_keys_apart() -> None:
    # Digits survive masking then, so lines alike but for their digits may be kinds apart.
    miner = PatternMiner(MinerSettings(masks=("ip",), similarity=0.9))
    a, b, c = ids(miner, ["code 22", "code 33", "code 22"])
    assert a == c != b


def test_an_evicted_template_is_not_served_from_the_key_cache() -> None:
    miner = PatternMiner(MinerSettings(max_templates=2))
    (first,) = ids(miner, ["alpha 1 ok"])
    ids(miner, ["beta gamma delta", "epsilon zeta eta theta"])  # evicts alpha's template
    assert miner.template("t", "api", first or "") is None
    (again,) = ids(miner, ["alpha 2 ok"])  # its key is cached, its template gone: made again, same id
    assert again == first
    assert miner.template("t", "api", first or "") is not None
