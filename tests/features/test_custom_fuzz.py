"""A seeded fuzz over users' files: random mixes of the mistakes users make. Every draw either
builds a dataset that is right (the rows, texts and labels the file meant) or stops with one
FeatureDataError line; never a traceback, never an accepted-but-wrong input."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from probing.features import FeatureDataError
from probing.features.custom import read_source
from tests.features.test_custom import build

# mistakes a file must be refused for, and quirks it must be read through
REFUSE = ("float_span", "bool_span", "string_span", "null_group", "nul_name", "label_two",
          "empty_text", "one_class", "duplicate_header")  # fmt: skip
ACCEPT = ("bom", "crlf", "digit_texts", "copies", "json_array")
WORDS = "alpha beta gamma delta river stone cloud light paper window garden music".split()


def draw_file(rng: np.random.Generator, tmp_path, index: int):
    """(path, refused?, expected rows) of one random file."""
    fmt = rng.choice(["jsonl", "json", "csv"])
    level = "sequence" if fmt == "csv" else rng.choice(["sequence", "token"])
    n = int(rng.integers(8, 30))
    texts = [" ".join(rng.choice(WORDS, int(rng.integers(3, 9)))) for _ in range(n)]
    mistakes = {m for m in REFUSE if rng.random() < 0.12}
    quirks = {q for q in ACCEPT if rng.random() < 0.3}
    if "digit_texts" in quirks:
        texts = [str(int(rng.integers(10**5, 10**9))) for _ in range(n)]
    if "copies" in quirks:
        texts[1] = texts[0]
    if "empty_text" in mistakes:
        texts[int(rng.integers(n))] = "   "
    labels = [int(i % 2) for i in range(n)]
    if "one_class" in mistakes:
        labels = [1] * n if level == "sequence" else [0] * n
    rows = []
    for i, text in enumerate(texts):
        if level == "sequence":
            value = labels[i]
        else:
            first = text.split(" ")[0]
            value = [[0, len(first)]] if labels[i] else []
        rows.append({"text": text, "feat": value, "group": f"d{i // 3}"})
    if "label_two" in mistakes:
        rows[0]["feat"] = 2 if level == "sequence" else [[0, 1], 2]
    if level == "token" and rows[0]["feat"] == [] and "one_class" not in mistakes:
        rows[0]["feat"] = [[0, 1]]
    if level == "token":  # spans of the wrong type: refused, never truncated by int()
        if "float_span" in mistakes:
            rows[0]["feat"] = [[0.5, 2.5]]
        if "bool_span" in mistakes:
            rows[0]["feat"] = [[False, True]]
        if "string_span" in mistakes:
            rows[0]["feat"] = [["0", "2"]]
    else:
        mistakes -= {"float_span", "bool_span", "string_span"}
    if fmt != "csv":
        mistakes.discard("duplicate_header")
    if "null_group" in mistakes:
        rows[-1]["group"] = None
    name = "feat"
    if "nul_name" in mistakes:
        name = "fe\x00at"
        for r in rows:
            r[name] = r.pop("feat")
    if "one_class" in mistakes and level == "token":  # no span anywhere: no positive token
        for r in rows:
            r[name] = []
    end = "\r\n" if "crlf" in quirks else "\n"
    if fmt == "csv":
        out = io.StringIO()
        header = ["text", name, "group"] + (["text"] if "duplicate_header" in mistakes else [])
        writer = csv.writer(out, lineterminator=end)
        writer.writerow(header)
        for r in rows:
            writer.writerow(
                [r["text"], r[name], r["group"] or ""] + ([r["text"]] * (len(header) - 3))
            )
        data = out.getvalue()
    elif fmt == "json" or "json_array" in quirks:
        fmt = "json"
        data = json.dumps(rows)
    else:
        data = end.join(json.dumps(r) for r in rows) + end
    raw = data.encode("utf-8")
    if "bom" in quirks:
        raw = b"\xef\xbb\xbf" + raw
    path = tmp_path / f"draw{index}.{fmt}"
    path.write_bytes(raw)
    return path, bool(mistakes), rows, level, name, sorted(mistakes)


@pytest.mark.parametrize("seed", range(60))
def test_a_random_mix_of_mistakes_is_refused_in_one_line_or_read_right(
    seed, tmp_path, bpe_tokenizer
):
    rng = np.random.default_rng(seed)
    path, refused, rows, level, name, mistakes = draw_file(rng, tmp_path, seed)
    if refused:
        with pytest.raises(FeatureDataError) as info:
            build(bpe_tokenizer, path=str(path), min_per_class=1)
        assert "\n" not in str(info.value), mistakes
        return
    table = read_source(str(path))
    assert table["text"].tolist() == [r["text"] for r in rows]  # texts as written, as text
    dataset = build(bpe_tokenizer, path=str(path), min_per_class=1)
    assert dataset.feature_names == [name] and dataset.n_sequences == len(rows)
    assert len(np.unique(dataset.groups)) == len({r["group"] for r in rows})
    if level == "sequence":
        assert dataset.labels[:, 0].tolist() == [r[name] for r in rows]
    else:
        for i, r in enumerate(rows):  # a labelled token exactly where a span was written
            assert dataset.labels[dataset.example_seq == i, 0].any() == bool(r[name])
