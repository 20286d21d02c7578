"""Masking: each kind of variable becomes its placeholder, in order, a column at a time; the config's kinds
are the masker's."""

from __future__ import annotations

import random

import polars as pl
import pyarrow as pa
import pytest

from logwarden.config.model import MASK_KINDS as CONFIG_KINDS
from logwarden.patterns.masking import KIND_NAMES, MASK_KINDS, Masker, ascii_only, digit_runs_alike, digits_alike
from tests.patterns_corpus import FAMILIES, adversarial_lines, family_lines


def masked(text: str, kinds: list[str] | None = None) -> str:
    (out,) = Masker(kinds).mask(pa.array([text])).to_list()
    assert isinstance(out, str)
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('GET "/a b/c" ok', "GET <str> ok"),
        ("user 'bob smith' left", "user <str> left"),
        ("can't find user's file", "can't find user's file"),  # apostrophes are not quotes
        ("mail from jo.doe+x@mail.example.com ok", "mail from <email> ok"),
        ("fetch https://x.example.com/a?b=1 done", "fetch <url> done"),
        ("req 123e4567-e89b-12d3-a456-426614174000 in", "req <uuid> in"),
        ("from 10.250.19.102:50010 to 8.8.8.8", "from <ip> to <ip>"),
        ("peer fe80::1ff:fe23:4567:890a up", "peer <ip> up"),
        ("at 2026-12-06T14:00:00.123Z start", "at <ts> start"),
        ("open /var/log/app/x.log failed", "open <path> failed"),
        (r"load C:\Windows\System32\a.dll", "load <path>"),
        ("took 12ms and 1.5s", "took <duration> and <duration>"),
        ("addr 0x7fff1234 sha a3f9b2c1d4e5", "addr <hex> sha <hex>"),
        ("status=OK user=bob took=<duration>", "status=<v> user=<v> took=<duration>"),
        # a hex value and a word value are both values: one form, not two
        ("node=3a38 zone=dcfe", "node=<v> zone=<v>"),
        ("block blk_-1608999687919862906 size 91178", "block blk_<num> size <num>"),
        ("retry 3 of 5, ratio -0.25", "retry <num> of <num>, ratio <num>"),
        ("first line 1\n\tat Frame.run(Frame.java:42)", "first line <num>"),
    ],
)
def test_each_kind_is_masked(text: str, expected: str) -> None:
    assert masked(text) == expected


def test_only_the_chosen_kinds_are_masked() -> None:
    assert masked("from 10.0.0.1 took 12ms", ["ip"]) == "from <ip> took 12ms"
    assert masked("from 10.0.0.1 took 12ms", ["number"]) == "from <num>.<num> took <num>ms"  # decimals are one number


def test_nulls_stay_null_and_long_lines_are_cut() -> None:
    out = Masker(max_chars=10).mask(pa.array([None, "abcdefghij klm"])).to_list()
    assert out == [None, "abcdefghij"]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mask kinds"):
        Masker(["ip", "zipcode"])


def test_the_config_lists_the_maskers_kinds_in_order() -> None:
    assert CONFIG_KINDS == KIND_NAMES


def test_digits_alike_makes_1_to_9_one_digit_and_keeps_the_rest() -> None:
    text = pa.chunked_array([pa.array(["0x9f 2026-12-06 é٣ 450", None]), pa.array(["", "a29"])])
    assert digits_alike(text).to_pylist() == ["0x1f 1011-11-01 é٣ 110", None, "", "a11"]
    sliced = pa.array(["x7", "y8", None], pa.string()).slice(1)
    assert digits_alike(sliced).to_pylist() == ["y1", None]
    assert digits_alike(pa.array([None, None], pa.string())).to_pylist() == [None, None]


def test_messages_alike_but_for_their_digits_mask_alike() -> None:
    # The miner's key cache relies on it: a key seen before stands for the masked form (patterns/miner.py).
    messages = [m for name in FAMILIES for m, _ in family_lines(name, 300, seed=21)]
    messages += [
        "addr 0x1f at 1x1f",
        "addr 0x9f at 9x9f",
        "addr 1x1f at 0x1f",
        "at 2026-12-06T14:00:00Z from 10.0.0.1:8080 id 123e4567-e89b-12d3-a456-426614174000",
        "at 9999-99-99T99:99:99Z from 99.9.9.9:9999 id 923e4567-e89b-92d3-a456-926614174999",
        "k8s=a k9s=b took 12ms",
        "k1s=a k2s=b took 99ms",
    ]
    text = pa.array(messages, pa.string())
    frame = pl.DataFrame({"key": pl.Series(digits_alike(text)), "masked": Masker().mask(text)})
    spread = frame.group_by("key").agg(pl.col("masked").n_unique().alias("forms"))
    assert spread.get_column("forms").max() == 1
    assert frame.get_column("key").n_unique() < 0.8 * len(messages)  # not vacuous: many keys are shared


def test_the_ascii_spelling_masks_ascii_text_alike_and_other_text_keeps_unicode_classes() -> None:
    # ASCII batches get the chain spelled with ASCII classes (cheaper); it must not change a single form.
    messages = [m for name in FAMILIES for m, _ in family_lines(name, 200, seed=24)]
    messages += adversarial_lines(300, seed=25)
    messages += ["a\x0bb\x0cc 12 x_1 9z", "tab\there 0x1f", "sep\x1c12 \x1fab12 q=\x1dv", "end 12ab.\nnext 7"]
    frame = pl.DataFrame({"m": messages})
    for kind in MASK_KINDS:
        plain = frame.select(pl.col("m").str.replace_all(kind.pattern, kind.replacement)).to_series()
        spelled = frame.select(pl.col("m").str.replace_all(ascii_only(kind.pattern), kind.replacement)).to_series()
        assert plain.equals(spelled), kind.name
    masker = Masker()
    unicode = frame.select(masker._expr).to_series()
    assert masker.mask(pa.array(messages)).equals(unicode)  # the whole chain, as the miner calls it
    assert unicode.str.contains("<").sum() > 0.5 * len(messages)  # not vacuous: most lines have variables
    # Next to a non-ASCII letter the meaning differs (é is a word character, so `12ab` is no hex word): a batch
    # holding such text is masked with Unicode classes, whichever other lines it holds.
    assert Masker().mask(pa.array(["café12ab", "plain 12ab"])).to_list() == ["café<num>ab", "plain <hex>"]
    assert masked("plain 12ab ok") == "plain <hex> ok"


def test_digit_runs_alike_makes_lengths_alike_only_where_no_kind_counts_them() -> None:
    text = pa.array(
        [
            "from 10.9.185.199 port 8624 pid [17937]",  # octets: 1-3 digits alike; 4 or more alike
            "from 1234.5.6.7 port 5",
            "to 10.0.0.1:8080 at 2026-12-06 12:00:00.123 id 0x1f",  # next to `:`, `-` or `x`: kept
            "blk_-3098621120332297649 blk_-12",  # next to `-`: alike only when longer than any counted group
            "uuid 123e4567-e89b-12d3-a456-426614174000 é12 3é",  # next to hex letters or non-ASCII: kept
            None,
            "",
            "ends 12",
            "34 starts",  # one run across two lines' edges is two runs
        ]
    )
    assert digit_runs_alike(text, 1000).to_pylist() == [
        "from 1.1.1.1 port 1111 pid [1111]",
        "from 1111.1.1.1 port 1",
        "to 1.1.1.1:1010 at 1011-11-01 11:00:00.1 id 0x1f",
        "blk_-1111111111111 blk_-11",
        "uuid 111e1111-e11b-11d1-a111-111111111000 é11 1é",
        None,
        "",
        "ends 1",
        "1 starts",
    ]
    assert digit_runs_alike(text.slice(7), 1000).to_pylist() == ["ends 1", "1 starts"]
    assert digit_runs_alike(pa.array(["x", "a 1 b", "q 0"]).slice(1), 1000).to_pylist() == ["a 1 b", "q 1"]
    assert digit_runs_alike(pa.chunked_array([text.slice(0, 1), text.slice(1, 1)]), 1000).to_pylist() == [
        "from 1.1.1.1 port 1111 pid [1111]",
        "from 1111.1.1.1 port 1",
    ]
    # A message longer than masking's cut keeps its lengths (only its digits are made alike).
    assert digit_runs_alike(pa.array(["port 8624 " * 3, "port 86"]), 20).to_pylist() == [
        "port 1111 port 1111 port 1111 ",
        "port 1",
    ]


def _digit_heavy_lines(n: int, seed: int) -> list[str]:
    """Random text of digits and the bytes the masking kinds look at next to them."""
    r = random.Random(seed)
    chars = "0123456789" * 3 + ".:-+,xXaf_ /=[]()\"'@Tzmsµ٣é\\<>\n;#*{}"
    lines = ["".join(r.choice(chars) for _ in range(r.randint(1, 40))) for _ in range(n)]
    for _ in range(n // 4):
        n1, n2 = r.randint(1, 5), r.randint(1, 14)
        lines.append(
            f"{r.randrange(10**n1)}.{r.randrange(1000)}.{r.randrange(10**n1)}.{r.randrange(999)}:{r.randrange(10**n2)}"
            f" id {r.randrange(10**n2)}-{r.randrange(10**n2)}-{r.randrange(10**n1)} at {r.randrange(99999)}-"
            f"{r.randrange(123)}-{r.randrange(123)}T{r.randrange(123)}:{r.randrange(123)}:{r.randrange(123)}."
            f"{r.randrange(10**n2)}+{r.randrange(10**n1)} took {r.randrange(10**n2)}ms"
            f" blk_-{r.randrange(10**n2 * 10**5)}"
        )
    return lines


def test_messages_alike_but_for_their_digit_runs_mask_alike() -> None:
    # The miner's key cache relies on it: a key seen before stands for the masked form (patterns/miner.py).
    corpus = [m for name in FAMILIES for m, _ in family_lines(name, 300, seed=31)]
    messages = corpus + adversarial_lines(500, seed=32) + _digit_heavy_lines(4000, seed=33)
    masker = Masker()
    ascii_part, other = [pa.array([m for m in messages if m.isascii() == flag]) for flag in (True, False)]
    for part in (ascii_part, other):  # each chain: ASCII batches get the ASCII spelling
        keys = digit_runs_alike(part, masker.max_chars)
        frame = pl.DataFrame({"key": pl.Series(keys), "masked": masker.mask(part)})
        spread = frame.group_by("key").agg(pl.col("masked").n_unique().alias("forms"))
        assert spread.get_column("forms").max() == 1
    # not vacuous: far fewer keys on ordinary logs than with the digits alone made alike
    text = pa.array(corpus, pa.string())
    runs = pl.Series(digit_runs_alike(text, masker.max_chars)).n_unique()
    assert runs < 0.7 * pl.Series(digits_alike(text)).n_unique()
