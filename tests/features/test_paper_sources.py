"""The paper's datasets (feature=paper/...): each config reads a local dataset folder written in
the real hub dataset's schema and layout, and labels known rows right; an unreachable hub ends in
one line that names the offline alternative, in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import ClassLabel, Dataset, Features, Sequence, Translation, Value

from probing.features import COLLECTIONS, FeatureDataError, build_feature_dataset
from probing.features.paper.collections import PAPER_COLLECTIONS, UPOS_NAMES
from probing.features.paper.tables import parse_feats

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf" / "feature" / "paper"


def write(rows: dict, features: Features | None, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(path))


def build(name: str, tokenizer, hf: Path | str, cache=None, min_per_class=1, **params):
    return build_feature_dataset(
        name, tokenizer, cache_dir=cache, min_per_class=min_per_class, hf=str(hf), **params
    )


def decoded(ds, tokenizer, feature: str, seq: int) -> str:
    """The text of the tokens of sequence `seq` labelled 1 for `feature`."""
    hit = (ds.label(feature) == 1) & (ds.example_seq == seq)
    return tokenizer.decode(ds.tokens[seq, ds.example_pos[hit]].tolist())


@pytest.fixture(autouse=True)
def fresh_hub_probe():
    """Each test sees the hub (un)reachability of its own environment."""
    from probing.features.sources.hub import hub_reachable

    hub_reachable.cache_clear()
    yield
    hub_reachable.cache_clear()


# -- UD English Web Treebank: universal-dependencies/universal_dependencies, en_ewt -----------------

EWT_FEATURES = Features(
    {
        "idx": Value("string"),
        "text": Value("string"),
        **{c: Sequence(Value("string")) for c in ("tokens", "lemmas")},
        "upos": Sequence(ClassLabel(names=UPOS_NAMES)),
        **{c: Sequence(Value("string")) for c in ("xpos", "feats", "head", "deprel", "deps")},
        "misc": Sequence(Value("string")),
    }
)
# (form, lemma, upos, feats as the hub writes them, deprel, misc)
DOGS = [
    ("The", "the", "DET", "{'Definite': 'Def', 'PronType': 'Art'}", "det", "None"),
    ("dogs", "dog", "NOUN", "{'Number': 'Plur'}", "nsubj", "None"),
    ("bark", "bark", "VERB", "{'Mood': 'Ind', 'Tense': 'Pres', 'VerbForm': 'Fin'}", "root", "None"),
    ("loudly", "loudly", "ADV", "None", "advmod", "{'SpaceAfter': 'No'}"),
    ("bark", "bark", "VERB", "None", "_", "{'CopyOf': '3'}"),  # an enhanced-graph copy
    (".", ".", "PUNCT", "None", "punct", "None"),
]
DONT = [
    ("I", "I", "PRON", "{'Case': 'Nom', 'Number': 'Sing', 'Person': '1'}", "nsubj", "None"),
    ("don't", "_", "_", "None", "_", "None"),  # the multiword token line: not a word
    ("do", "do", "AUX", "{'Mood': 'Ind', 'Tense': 'Pres'}", "aux", "None"),
    ("n't", "not", "PART", "{'Polarity': 'Neg'}", "advmod", "{'SpaceAfter': 'No'}"),
    ("know", "know", "VERB", "{'VerbForm': 'Inf'}", "root", "None"),
    (".", ".", "PUNCT", "None", "punct", "None"),
]


def ewt_rows(sentences: list[tuple[str, str, list]]) -> dict:
    rows = {c: [] for c in EWT_FEATURES}
    for idx, text, words in sentences:
        rows["idx"].append(idx)
        rows["text"].append(text)
        for column, values in zip(
            ("tokens", "lemmas", "upos", "feats", "deprel", "misc"),
            zip(*words, strict=True),
            strict=True,
        ):
            rows[column].append(list(values))
        rows["xpos"].append(["_"] * len(words))
        rows["head"].append(["0"] * len(words))
        rows["deps"].append(["None"] * len(words))
    return rows


@pytest.fixture
def ewt_folder(tmp_path) -> Path:
    """en_ewt/{train,validation,test}/0000.parquet, the layout of the hub's parquet export."""
    root = tmp_path / "ud"
    train = [
        ("doc-a-0001", "The dogs bark loudly.", DOGS),
        ("doc-a-0002", "I don't know.", DONT),
        ("doc-b-0001", "I don't know.", DONT),
    ]
    write(ewt_rows(train), EWT_FEATURES, root / "en_ewt" / "train" / "0000.parquet")
    for split in ("validation", "test"):
        write(ewt_rows(train[:1]), EWT_FEATURES, root / "en_ewt" / split / "0000.parquet")
    return root


def test_ewt_pos_labels_the_tokens_of_each_gold_tag(bpe_tokenizer, ewt_folder):
    ds = build("ewt_pos", bpe_tokenizer, ewt_folder)
    assert ds.aggregation == "token" and ds.feature_names == COLLECTIONS["ewt_pos"].defaults["tags"]
    assert ds.n_examples == int(ds.lengths.sum())  # every token is an example
    order = {text: i for i, text in enumerate(bpe_tokenizer.batch_decode(ds.tokens))}
    dogs = next(i for t, i in order.items() if t.startswith("The dogs"))
    dont = next(i for t, i in order.items() if t.startswith("I don't"))
    assert decoded(ds, bpe_tokenizer, "NOUN", dogs).strip() == "dogs"
    assert decoded(ds, bpe_tokenizer, "VERB", dogs).strip() == "bark"  # the copy adds nothing
    assert decoded(ds, bpe_tokenizer, "PUNCT", dogs) == "."
    assert decoded(ds, bpe_tokenizer, "AUX", dont).strip().startswith("do")
    assert decoded(ds, bpe_tokenizer, "NOUN", dont) == ""
    assert "PART" not in ds.feature_names  # not among the paper's 16
    assert len(np.unique(ds.groups)) == 2  # doc-a (two sentences) and doc-b


def test_ewt_dep_and_morph_read_deprel_and_feats(bpe_tokenizer, ewt_folder):
    dep = build("ewt_dep", bpe_tokenizer, ewt_folder, split="validation")
    assert dep.n_sequences == 1
    assert decoded(dep, bpe_tokenizer, "nsubj", 0).strip() == "dogs"
    assert decoded(dep, bpe_tokenizer, "det", 0).strip() == "The"
    morph = build("ewt_morph", bpe_tokenizer, ewt_folder, max_sentences=0)
    assert "Number=Plur" in morph.feature_names and "Polarity=Neg" not in morph.feature_names
    texts = bpe_tokenizer.batch_decode(morph.tokens)
    dogs = next(i for i, t in enumerate(texts) if t.startswith("The dogs"))
    dont = next(i for i, t in enumerate(texts) if t.startswith("I don't"))
    assert decoded(morph, bpe_tokenizer, "Number=Plur", dogs).strip() == "dogs"
    assert decoded(morph, bpe_tokenizer, "Person=1", dont).strip() == "I"
    assert decoded(morph, bpe_tokenizer, "PronType=Art", dogs).strip() == "The"


def test_a_save_to_disk_copy_reads_like_the_hub_layout(bpe_tokenizer, ewt_folder, tmp_path):
    import datasets

    splits = datasets.load_dataset(str(ewt_folder), data_dir="en_ewt")
    splits.save_to_disk(str(tmp_path / "saved" / "en_ewt"))
    from_hub_layout = build("ewt_pos", bpe_tokenizer, ewt_folder)
    assert build("ewt_pos", bpe_tokenizer, tmp_path / "saved").content_hash() == (
        from_hub_layout.content_hash()
    )
    with pytest.raises(FeatureDataError, match="no split 'dev'"):
        build("ewt_pos", bpe_tokenizer, tmp_path / "saved", split="dev")


def test_feats_in_both_spellings():
    assert parse_feats("{'Number': 'Sing', 'Person': '3'}") == {"Number": "Sing", "Person": "3"}
    assert parse_feats("Number=Sing|Person=3") == {"Number": "Sing", "Person": "3"}
    assert parse_feats("None") == parse_feats("_") == {}


# -- the Pile: NeelNanda/pile-10k ------------------------------------------------------------------

PILE_FEATURES = Features({"text": Value("string"), "meta": {"pile_set_name": Value("string")}})


@pytest.fixture
def pile_folder(tmp_path) -> Path:
    """data/train-00000-of-00001.parquet: text and meta.pile_set_name, as on the hub."""
    subsets = ["ArXiv", "Github", "FreeLaw", "Books3"]  # Books3 is not one of the paper's
    texts = {
        "ArXiv": "We prove that the spectral gap of {i} random graphs is bounded.",
        "Github": "def handler_{i}(event):\n    return event['body']",
        "FreeLaw": "The court of appeals affirmed judgment number {i} for the defendant.",
        "Books3": "Chapter {i}. The rain had not stopped for days.",
    }
    rows = {"text": [], "meta": []}
    rng = np.random.default_rng(0)  # distinct texts: templates alone would be near-duplicates
    words = "alpha beta gamma delta river stone cloud light paper window garden music".split()
    for i in range(40):
        for subset in subsets:
            tail = " ".join(rng.choice(words, 12))
            rows["text"].append(f"{tail} {texts[subset].format(i=i)}")  # read first
            rows["meta"].append({"pile_set_name": subset})
    write(rows, PILE_FEATURES, tmp_path / "pile" / "data" / "train-00000-of-00001.parquet")
    return tmp_path / "pile"


def test_pile_subset_is_one_vs_rest_over_pile_set_name(bpe_tokenizer, pile_folder):
    ds = build("pile_subset", bpe_tokenizer, pile_folder, n_per_class=30)
    assert ds.aggregation == "mean"
    assert ds.feature_names == [
        "wikipedia_en", "pubmed_abstracts", "stackexchange", "github", "arxiv",
        "uspto_backgrounds", "freelaw", "hackernews", "enron_emails",
    ]  # fmt: skip
    texts = bpe_tokenizer.batch_decode(ds.tokens, skip_special_tokens=True)
    assert ds.n_sequences == 90 and not any("Chapter" in t for t in texts)
    arxiv = next(i for i, t in enumerate(texts) if "We prove that the spectral gap of 0 " in t)
    row = dict(zip(ds.feature_names, ds.labels[arxiv], strict=True))
    assert row["arxiv"] == 1 and sum(row.values()) == 1
    for name, start in [("arxiv", "We prove"), ("github", "def handler"), ("freelaw", "The court")]:
        assert ds.label(name).sum() == 30
        assert all(start in texts[i] for i in np.flatnonzero(ds.label(name)))
    assert ds.meta["source"] == "paper:pile_subset" and ds.meta["hf"] == str(pile_folder)


def test_a_changed_source_is_rebuilt_not_served_from_the_cache(
    bpe_tokenizer, pile_folder, tmp_path
):
    first = build("pile_subset", bpe_tokenizer, pile_folder, tmp_path / "cache", n_per_class=30)
    again = build("pile_subset", bpe_tokenizer, pile_folder, tmp_path / "cache", n_per_class=30)
    assert again.content_hash() == first.content_hash()
    path = pile_folder / "data" / "train-00000-of-00001.parquet"
    rows = Dataset.from_parquet(str(path)).to_dict()
    rows["meta"][0] = {"pile_set_name": "FreeLaw"}  # an ArXiv text relabelled
    write(rows, PILE_FEATURES, path)
    changed = build("pile_subset", bpe_tokenizer, pile_folder, tmp_path / "cache", n_per_class=30)
    assert changed.content_hash() != first.content_hash()
    assert changed.labels[0, changed.feature_names.index("freelaw")] == 1


def test_a_folder_of_another_schema_is_named_in_one_line(bpe_tokenizer, tmp_path):
    write({"body": ["a"], "label": ["b"]}, None, tmp_path / "x" / "data" / "train-0.parquet")
    with pytest.raises(FeatureDataError, match=r"no column\(s\) \['text', 'meta'\]") as info:
        build("pile_subset", bpe_tokenizer, tmp_path / "x")
    assert "\n" not in str(info.value) and "NeelNanda/pile-10k" in str(info.value)
    with pytest.raises(FeatureDataError, match="no such folder"):
        build("pile_subset", bpe_tokenizer, tmp_path / "missing")


# -- GitHub code: codeparrot/github-code -----------------------------------------------------------


def test_github_code_labels_by_language_and_groups_by_repository(bpe_tokenizer, tmp_path):
    code = {
        "Python": "import os\nprint(os.getcwd())  # {i}",
        "GO": 'package main\nfunc main() {{ println("{i}") }}',
        "Java": "public class A{i} {{ void f() {{}} }}",
        "Ruby": "puts {i}",  # not one of the paper's languages
    }
    rows = {c: [] for c in ("code", "repo_name", "path", "language", "license", "size")}
    for i in range(24):
        for language, text in code.items():
            rows["code"].append(text.format(i=i))
            rows["repo_name"].append(f"{language}/repo{i // 4}")
            rows["path"].append(f"f{i}")
            rows["language"].append(language)
            rows["license"].append("mit")
            rows["size"].append(len(text))
    features = Features(
        {**{c: Value("string") for c in rows if c != "size"}, "size": Value("int32")}
    )
    write(rows, features, tmp_path / "gh" / "data" / "train-00000-of-01126.parquet")
    ds = build("github_code", bpe_tokenizer, tmp_path / "gh", n_per_class=20)
    assert ds.feature_names == ["cpp", "c", "go", "html", "java", "javascript", "php", "python"]
    texts = bpe_tokenizer.batch_decode(ds.tokens, skip_special_tokens=True)
    assert ds.n_sequences == 60 and not any(t.startswith("puts") for t in texts)
    for feature, start in [("go", "package main"), ("python", "import os"), ("java", "public")]:
        positives = np.flatnonzero(ds.label(feature))
        assert len(positives) == 20 and all(texts[i].startswith(start) for i in positives)
    assert len(np.unique(ds.groups)) == 15  # 4 files per repository, 3 languages x 20 files


# -- Europarl: Helsinki-NLP/europarl ---------------------------------------------------------------

SENTENCES = {
    "en": "The Parliament adopted resolution number {i} on fisheries today.",
    "de": "Das Parlament hat heute die Entschließung Nummer {i} zur Fischerei angenommen.",
    "fr": "Le Parlement a adopté aujourd'hui la résolution numéro {i} sur la pêche.",
}


@pytest.fixture
def europarl_folder(tmp_path) -> Path:
    """de-en/ and en-fr/ parquet files of translation pairs plus the card's configs, as on the hub."""
    root = tmp_path / "europarl"
    configs = []
    for pair in ("de-en", "en-fr"):
        a, b = pair.split("-")
        # Both pairs translate the same English proceedings; here they share the first 6 rows.
        number = (lambda i: i) if pair == "de-en" else (lambda i: i if i < 6 else i + 100)
        rows = {
            "translation": [
                {a: SENTENCES[a].format(i=number(i)), b: SENTENCES[b].format(i=number(i))}
                for i in range(60)
            ]
        }
        features = Features({"translation": Translation(languages=[a, b])})
        write(rows, features, root / pair / "train-00000-of-00001.parquet")
        configs.append(
            {"config_name": pair, "data_files": [{"split": "train", "path": f"{pair}/train-*"}]}
        )
    (root / "README.md").write_text(f"---\n{yaml.safe_dump({'configs': configs})}---\n")
    return root


def test_europarl_labels_each_language_and_pairs_share_a_group(bpe_tokenizer, europarl_folder):
    ds = build(
        "europarl",
        bpe_tokenizer,
        europarl_folder,
        languages=["en", "de", "fr"],
        n_per_class=12,
        min_chars=120,
    )
    assert ds.feature_names == ["en", "de", "fr"] and ds.aggregation == "mean"
    texts = bpe_tokenizer.batch_decode(ds.tokens, skip_special_tokens=True)
    starts = {"en": "The Parliament", "de": "Das Parlament", "fr": "Le Parlement"}
    for lang, start in starts.items():
        positives = np.flatnonzero(ds.label(lang))
        assert len(positives) == 12 and all(texts[i].startswith(start) for i in positives)
    assert (ds.labels.sum(axis=1) == 1).all()
    german = np.flatnonzero(ds.label("de"))[0]
    partner = [i for i in np.flatnonzero(ds.groups == ds.groups[german]) if i != german]
    assert len(partner) == 1 and ds.label("en")[partner[0]] == 1  # its English side
    english = [texts[i] for i in np.flatnonzero(ds.label("en"))]
    sentences = [x for text in english for x in text.split("today.") if x.strip()]
    assert len(sentences) == len(set(sentences))  # a sentence both pairs share is used once
    english_groups = {int(g) for g in ds.groups[ds.label("en") == 1]}
    assert english_groups & {int(g) for g in ds.groups[ds.label("fr") == 1]}  # from both pairs
    assert english_groups & {int(g) for g in ds.groups[ds.label("de") == 1]}


# -- offline ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ewt_pos", "europarl"])  # one cached-or-not, one streamed
def test_an_unreachable_hub_is_one_fast_line_naming_the_alternative(
    bpe_tokenizer, monkeypatch, name
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    start = time.monotonic()
    with pytest.raises(FeatureDataError) as info:
        build(name, bpe_tokenizer, "nobody/never-downloaded-dataset")
    message = str(info.value)
    assert time.monotonic() - start < 15
    assert "\n" not in message and "nobody/never-downloaded-dataset" in message
    assert "hf download --repo-type dataset nobody/never-downloaded-dataset" in message
    assert "--local-dir DIR" in message and "feature.hf=DIR" in message


def run_cli(args: list[str], tmp_path: Path, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "probing.run", "model=tiny-pythia", "logger=none", *args],
        cwd=ROOT,
        env={**os.environ, "PROBING_CACHE": str(tmp_path / "cache"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cli_refuses_an_unreachable_hub_in_one_line_before_the_model(tmp_path):
    proc = run_cli(
        ["feature=paper/ewt_pos", f"hydra.run.dir={tmp_path / 'out'}"],
        tmp_path,
        env={"HF_HUB_OFFLINE": "1"},
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and "universal-dependencies/universal_dependencies" in errors[0]
    assert "hf download --repo-type dataset" in errors[0] and "feature.hf=DIR" in errors[0]


# -- configs and the command line -------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_paper_config_passes_every_builder_default(path):
    conf = yaml.safe_load(path.read_text())
    assert conf["name"] == path.stem and conf["name"] in PAPER_COLLECTIONS
    collection = COLLECTIONS[conf["name"]]
    params = dict(conf["params"])
    for key in ("hf", "split", "hf_config"):  # the top-level keys reach the builder
        assert params[key] == "${.." + key + "}"
        params[key] = conf[key]
    assert params == collection.defaults
    assert collection.category != "custom" and collection.fingerprint is not None


def test_every_paper_collection_has_a_config():
    assert {p.stem for p in CONF.glob("*.yaml")} == set(PAPER_COLLECTIONS)


def test_paper_configs_validate_against_a_local_folder(ewt_folder, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from probing.config import validate_config
    from probing.errors import ConfigError

    def cfg(*overrides):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose("config", overrides=["model=tiny-pythia", *overrides])

    validate_config(
        cfg("feature=paper/ewt_dep", f"feature.hf={ewt_folder}", "feature.only=[nsubj]")
    )
    with pytest.raises(ConfigError, match="no such folder"):
        validate_config(cfg("feature=paper/ewt_dep", f"feature.hf={tmp_path / 'nope'}"))
    with pytest.raises(ConfigError, match=r"feature.only names \['NOUN'\]"):
        validate_config(
            cfg("feature=paper/ewt_dep", f"feature.hf={ewt_folder}", "feature.only=[NOUN]")
        )
    with pytest.raises(ConfigError, match="feature.path is for your own data"):
        validate_config(cfg("feature=paper/ewt_dep", f"feature.hf={ewt_folder}", "+feature.path=x"))
    GlobalHydra.instance().clear()


def test_a_paper_dataset_end_to_end_through_the_cli(pile_folder, tmp_path):
    from probing.results import read_results

    proc = run_cli(
        [
            "feature=paper/pile_subset",
            f"feature.hf={pile_folder}",
            "feature.params.n_per_class=40",
            "feature.params.seq_len=32",
            "feature.only=[arxiv,github,freelaw]",
            "probe.ks=[1,2]",
            "layer=middle",
            "progress=false",
            f"hydra.run.dir={tmp_path / 'out'}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = read_results(tmp_path / "out")
    assert set(results["collection"]) == {"pile_subset"}
    assert set(results["feature"]) == {"arxiv", "github", "freelaw"}
    assert len(results) == 3 * 2  # 3 features x 2 values of k, one layer


def test_a_local_copy_of_another_schema_is_refused_before_the_model_loads(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from probing.config import validate_config
    from probing.errors import ConfigError

    write({"body": ["a"], "label": ["b"]}, None, tmp_path / "x" / "data" / "train-0.parquet")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(
                "config",
                overrides=["model=tiny-pythia", "feature=paper/pile_subset",
                           f"feature.hf={tmp_path / 'x'}"],
            )  # fmt: skip
    finally:
        GlobalHydra.instance().clear()
    with pytest.raises(ConfigError, match=r"no column\(s\) \['text', 'meta'\]"):
        validate_config(cfg)
