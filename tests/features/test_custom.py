"""Your own features: a table in any of the accepted formats becomes the same FeatureDataset,
and every bad input is one clear FeatureDataError."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from probing.features import FeatureDataError, FeatureDataset, build_feature_dataset
from probing.features.custom import DEFAULTS, conllu_table, read_source

CODE = ["def f(x):\n    return x + {i}", "for i in range({i}):\n    print(i)"]
PROSE = ["The river rose by {i} feet last spring.", "She wrote {i} letters to her sister."]


def sequence_table(n: int = 80) -> pd.DataFrame:
    rows = []
    for i in range(n):
        code = i % 2 == 0
        text = (CODE if code else PROSE)[(i // 2) % 2].format(i=i)
        rows.append(
            {"text": text, "is_code": int(code), "has_seven": int("7" in text), "group": i // 4}
        )
    return pd.DataFrame(rows)


def write_all_formats(table: pd.DataFrame, folder) -> dict[str, str]:
    from datasets import Dataset

    paths = {
        "jsonl": folder / "t.jsonl",
        "csv": folder / "t.csv",
        "parquet": folder / "t.parquet",
        "save_to_disk": folder / "saved",
    }
    table.to_json(paths["jsonl"], orient="records", lines=True)
    table.to_csv(paths["csv"], index=False)
    table.to_parquet(paths["parquet"])
    Dataset.from_pandas(table).save_to_disk(str(paths["save_to_disk"]))
    return {k: str(v) for k, v in paths.items()}


def build(tokenizer, cache=None, min_per_class=10, **params):
    return build_feature_dataset(
        "custom", tokenizer, cache_dir=cache, min_per_class=min_per_class, **{**DEFAULTS, **params}
    )


def test_every_format_builds_the_same_dataset(bpe_tokenizer, tmp_path):
    table = sequence_table()
    hashes = set()
    for kind, path in write_all_formats(table, tmp_path).items():
        ds = build(bpe_tokenizer, path=path)
        assert ds.feature_names == ["is_code", "has_seven"], kind
        assert ds.aggregation == "mean" and ds.n_examples == len(table)
        np.testing.assert_array_equal(ds.label("is_code"), table["is_code"])
        assert len(np.unique(ds.groups)) == 20  # four rows per document
        hashes.add(ds.content_hash())
    assert len(hashes) == 1
    from_python = FeatureDataset.from_pandas(table, bpe_tokenizer)
    assert from_python.content_hash() in hashes


def test_a_hub_style_dataset_loads_through_load_dataset(bpe_tokenizer, tmp_path):
    """The hub path (datasets.load_dataset) on a local dataset folder of the same schema."""
    folder = tmp_path / "org_name" / "data"
    folder.mkdir(parents=True)
    sequence_table().to_parquet(folder / "train-00000.parquet")
    ds = build(bpe_tokenizer, hf=str(tmp_path / "org_name"), split="train")
    assert ds.n_examples == 80
    with pytest.raises(FeatureDataError, match="feature.hf=.*split|Unknown split"):
        build(bpe_tokenizer, hf=str(tmp_path / "org_name"), split="validation")


def test_an_unreachable_hub_dataset_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FeatureDataError) as info:
        read_source(hf="nobody/no-such-dataset-xyz", split="train")
    assert "\n" not in str(info.value) and "hf download --repo-type dataset nobody" in str(
        info.value
    )


def test_token_level_spans_label_the_tokens_they_cover(bpe_tokenizer):
    text = "public license and command line tools"
    start = text.index("license")
    table = pd.DataFrame(
        [
            {"text": text, "licence_word": [[start, start + len("license")]], "tools": []},
            {"text": "the tools of the trade", "licence_word": [], "tools": [[4, 9]]},
        ]
    )
    ds = FeatureDataset.from_pandas(table, bpe_tokenizer)
    assert ds.aggregation == "token" and ds.feature_names == ["licence_word", "tools"]
    assert ds.n_examples == int(ds.lengths.sum())  # every token is an example
    positives = ds.example_pos[ds.label("licence_word") == 1]
    decoded = [bpe_tokenizer.decode([int(ds.tokens[0, p])]) for p in positives]
    assert "".join(decoded).strip() == "license"
    assert ds.label("licence_word")[ds.example_seq == 1].sum() == 0
    assert ds.label("tools")[ds.example_seq == 1].sum() >= 1


def test_conllu_gives_one_feature_per_tag_grouped_by_document(bpe_tokenizer, tmp_path):
    conllu = (
        "# newdoc id = d1\n# text = Dogs bark.\n"
        "1\tDogs\tdog\tNOUN\tNNS\t_\t2\tnsubj\t_\t_\n"
        "2\tbark\tbark\tVERB\tVBP\t_\t0\troot\t_\tSpaceAfter=No\n"
        "3\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_\n\n"
        "# newdoc id = d2\n"
        "1\tCats\tcat\tNOUN\tNNS\t_\t2\tnsubj\t_\t_\n"
        "2\tsleep\tsleep\tVERB\tVBP\t_\t0\troot\t_\t_\n"
    )
    table = conllu_table(conllu)
    assert list(table["text"]) == ["Dogs bark.", "Cats sleep"]
    assert list(table["group"]) == ["d1", "d2"]
    assert table.loc[0, "PUNCT"] == [[9, 10]] and table.loc[1, "PUNCT"] == []
    path = tmp_path / "t.conllu"
    path.write_text(conllu)
    ds = build(bpe_tokenizer, path=str(path), min_per_class=1)
    assert set(ds.feature_names) == {"NOUN", "VERB", "PUNCT"}
    nouns = ds.example_pos[(ds.label("NOUN") == 1) & (ds.example_seq == 0)]
    assert bpe_tokenizer.decode(ds.tokens[0, nouns]).strip() == "Dogs"


def conllu_docs(n_docs: int, line_end: str = "\n", blank: str = "") -> str:
    """n_docs documents of two sentences each; XPOS values "text" and "group" on purpose."""
    out = []
    for d in range(n_docs):
        out.append(f"# newdoc id = d{d}")
        for s in range(2):
            out += [f"# sent_id = d{d}-{s}",
                    "1\tDogs\tdog\tNOUN\ttext\t_\t2\tnsubj\t_\t_",
                    "2\tbark\tbark\tVERB\tgroup\t_\t0\troot\t_\t_", blank]  # fmt: skip
    return line_end.join(out) + line_end


@pytest.mark.parametrize("line_end, blank", [("\n", ""), ("\r\n", ""), ("\n", "  \t "), ("\r", "")])
def test_conllu_sentences_follow_the_spec_whatever_the_line_ends(line_end, blank):
    table = conllu_table(conllu_docs(10, line_end, blank))
    assert len(table) == 20 and table["group"].nunique() == 10
    assert set(table["text"]) == {"Dogs bark"}


def test_conllu_tags_named_like_the_text_or_group_column_do_not_overwrite_them(caplog):
    table = conllu_table(conllu_docs(3), tag_column="xpos")
    assert table["group"].tolist() == ["d0", "d0", "d1", "d1", "d2", "d2"]
    assert set(table["text"]) == {"Dogs bark"}
    assert table.loc[0, "xpos:text"] == [[0, 4]] and table.loc[0, "xpos:group"] == [[5, 9]]
    assert "renamed" in caplog.text


def test_an_edited_file_is_rebuilt_not_served_from_the_cache(bpe_tokenizer, tmp_path):
    path = tmp_path / "t.jsonl"
    table = sequence_table()
    table.to_json(path, orient="records", lines=True)
    first = build(bpe_tokenizer, cache=tmp_path / "cache", path=str(path))
    table.loc[0, "is_code"] = 0
    table.to_json(path, orient="records", lines=True)
    second = build(bpe_tokenizer, cache=tmp_path / "cache", path=str(path))
    assert first.content_hash() != second.content_hash()
    assert second.label("is_code")[0] == 0


def bad_inputs(tmp_path):
    def jsonl(name, rows):
        p = tmp_path / name
        p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return str(p)

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,is_x\ncaf\xe9,1\n".encode("latin-1"))
    (tmp_path / "empty.jsonl").write_text("")
    dup_header = tmp_path / "dup.csv"
    dup_header.write_text("text,label,label\na,1,0\nb,0,1\n")
    (tmp_path / "t.xlsx").write_text("x")
    blank_label = tmp_path / "blank_label.csv"
    blank_label.write_text("text,x\na,1\nb,0\nc,\nd,1\n")
    return [
        (str(tmp_path / "missing.jsonl"), "no such file"),
        (str(tmp_path / "t.xlsx"), "unknown format .xlsx"),
        (str(tmp_path / "empty.jsonl"), "is empty"),
        (str(latin1), "not UTF-8 .*line 2"),
        (jsonl("notext.jsonl", [{"body": "a", "x": 1}]), "no 'text' column"),
        (
            jsonl("notbin.jsonl", [{"text": "a", "x": 2}, {"text": "b", "x": 0}]),
            "0/1 labels; rows \\[0\\]",
        ),
        # a CSV label column with one blank cell stays text: the blank row is named, not all
        (str(blank_label), "rows \\[2\\] hold ''$"),
        (jsonl("nofeat.jsonl", [{"text": "a"}]), "no feature column"),
        (jsonl("span.jsonl", [{"text": "short", "x": [[2, 50]]}]), "outside the text"),
        # offsets that int() would have truncated or coerced: float, bool, string (and NaN)
        (jsonl("float.jsonl", [{"text": "short", "x": [[0.5, 2.5]]}]), "must be two integers"),
        (jsonl("whole.jsonl", [{"text": "short", "x": [[0.0, 2.0]]}]), "must be two integers"),
        (jsonl("bool.jsonl", [{"text": "short", "x": [[False, True]]}]), "must be two integers"),
        (jsonl("str.jsonl", [{"text": "short", "x": [["0", "2"]]}]), "must be two integers"),
        (jsonl("nan.jsonl", [{"text": "short", "x": [[0, None]]}]), "must be two integers"),
        (
            jsonl("nul.jsonl", [{"text": "a", "x\u0000y": 1}, {"text": "b", "x\u0000y": 0}]),
            "control characters",
        ),  # fmt: skip
        # a column named "" (JSON and parquet allow it) is no feature name a row can carry
        (
            jsonl("noname.jsonl", [{"text": "a", "": 1}, {"text": "b", "": 0}]),
            "feature names \\[''\\]",
        ),
        (str(dup_header), "the header repeats \\['label'\\]"),
        (jsonl("oneclass.jsonl", [{"text": "a", "x": 1}, {"text": "b", "x": 1}]), "one class only"),
        (jsonl("nospan.jsonl", [{"text": "a b", "x": []}, {"text": "c", "x": []}]), "one class"),
        (
            jsonl(
                "nullgroup.jsonl",
                [{"text": "a", "x": 1, "group": "d"}, {"text": "b", "x": 0, "group": None}],
            ),
            "name no document",
        ),  # fmt: skip
        (
            jsonl("blank.jsonl", [{"text": "a  b", "x": [[1, 3]]}, {"text": " ", "x": []}]),
            "empty or not text",
        ),
    ]


def test_bad_inputs_are_one_clear_line(bpe_tokenizer, tmp_path):
    for path, message in bad_inputs(tmp_path):
        with pytest.raises(FeatureDataError, match=message) as info:
            build(bpe_tokenizer, path=path)
        assert "\n" not in str(info.value), path


def test_a_span_no_token_covers_is_refused():
    """A tokenizer that drops whitespace (offsets skip it) leaves a span of spaces uncovered."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[UNK]")
    table = pd.DataFrame([{"text": "a" + " " * 6 + "b", "x": [[2, 4]]}])
    with pytest.raises(FeatureDataError, match=r"span \[2, 4\] \('  '\) covers no token"):
        FeatureDataset.from_pandas(table, tokenizer)


def late_label_table(n: int = 40) -> pd.DataFrame:
    """The label is decided by the text's last word, after a long shared preamble."""
    preamble = "the same long preamble of ordinary words comes first in every text. " * 8
    return pd.DataFrame(
        {
            "text": [preamble + ("python" if i % 2 else "prose") for i in range(n)],
            "late": [i % 2 for i in range(n)],
            "early": [int(i % 4 == 0) for i in range(n)],
        }
    )


def test_texts_cut_at_seq_len_are_counted_and_a_feature_decided_late_is_named(
    bpe_tokenizer, caplog
):
    from probing.features.core.tables import dataset_from_table

    dataset = dataset_from_table(late_label_table(), bpe_tokenizer, seq_len=16)
    cut = dataset.meta["truncation"]
    assert cut["texts"] == 40 and cut["seq_len"] == 16 and 0 < cut["median_read"] < 0.5
    assert cut["positives"] == {"late": 1.0, "early": 1.0}
    assert "feature late: 100% of its positive texts are cut at 16 tokens" in caplog.text
    whole = dataset_from_table(late_label_table(), bpe_tokenizer, seq_len=512)
    assert whole.meta["truncation"]["texts"] == 0


def test_a_huge_text_is_tokenised_by_a_bounded_prefix(bpe_tokenizer, monkeypatch):
    from probing.features.core import tables

    seen = []
    encode = tables._encode

    def spy(tokenizer, texts, with_offsets):
        seen.extend(len(t) for t in texts)
        return encode(tokenizer, texts, with_offsets)

    monkeypatch.setattr(tables, "_encode", spy)
    table = pd.DataFrame({"text": ["word " * 1_000_000, "short text"], "x": [1, 0]})
    dataset = tables.dataset_from_table(table, bpe_tokenizer, seq_len=32)
    assert max(seen) <= 32 * tables.CHARS_PER_TOKEN
    assert dataset.lengths[0] == 32 and dataset.meta["truncation"]["texts"] == 1


def test_what_users_write_is_read_as_they_meant_it(tmp_path):
    """A BOM before JSON lines, a JSON array, texts that are only digits in a CSV."""
    rows = [{"text": f"{i}{i}{i}", "x": i % 2} for i in range(6)]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + "\n".join(json.dumps(r) for r in rows).encode())
    array = tmp_path / "array.json"
    array.write_text(json.dumps(rows))
    digits = tmp_path / "digits.csv"
    digits.write_text("text,x\n" + "".join(f"{r['text']},{r['x']}\n" for r in rows))
    for path in (bom, array, digits):
        table = read_source(str(path))
        assert table["text"].tolist() == [r["text"] for r in rows], path
        assert table["x"].tolist() == [r["x"] for r in rows], path
