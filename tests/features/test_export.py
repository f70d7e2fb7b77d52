"""Export and import of built feature datasets: a collection written as a Hugging Face dataset
folder comes back as the identical FeatureDataset (same content hash) through feature=custom/file,
a different tokenizer never passes for the exported one, and a damaged folder is one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probing.features import COLLECTIONS, FeatureDataError, FeatureDataset, build_feature_dataset
from probing.features.__main__ import main
from probing.features.core.export import EXPORT_FILE, is_export, load_export
from probing.features.core.tokens import tokenizer_fingerprint
from probing.features.custom import DEFAULTS
from probing.features.sources.prose import prose_files, prose_roots

ROOT = Path(__file__).resolve().parents[2]
ARRAYS = ("tokens", "lengths", "example_seq", "example_pos", "labels", "groups")


def sequence_table(n: int = 160) -> pd.DataFrame:
    """Code or prose, four rows per document: a sequence-level table that probes cleanly."""
    rows = []
    for i in range(n):
        code = i % 2 == 0
        text = f"def f{i}(x):\n    return x * {i}" if code else f"The {i} birds flew south today."
        rows.append(
            {"text": text, "is_code": int(code), "low": int(i < n // 2), "group": f"d{i // 4}"}
        )
    return pd.DataFrame(rows)


def span_table() -> pd.DataFrame:
    """A token-level table: spans of the word "license" and of digits."""
    rows = []
    for i in range(60):
        text = f"see the license file {i} and the tools {i * 7}"
        start = text.index("license")
        digits = [[m, m + len(str(i))] for m in [text.index(f" {i} ") + 1]]
        rows.append(
            {"text": text, "licence": [[start, start + 7]], "digit": digits, "group": f"d{i // 3}"}
        )
    return pd.DataFrame(rows)


def custom(tokenizer, path, cache=None, **params):
    return build_feature_dataset(
        "custom",
        tokenizer,
        cache_dir=cache,
        min_per_class=1,
        **{**DEFAULTS, "path": str(path), **params},
    )


def export_cli(
    name: str, out: Path, tokenizer_dir: Path, *sets: str, cache: Path | None = None
) -> int:
    argv = ["export", name, "--out", str(out), "--tokenizer", str(tokenizer_dir)]
    argv += [arg for s in sets for arg in ("--set", s)]
    if cache is not None:
        argv += ["--cache-dir", str(cache)]
    return main(argv)


def assert_same(a: FeatureDataset, b: FeatureDataset) -> None:
    assert a.content_hash() == b.content_hash()
    assert (a.name, a.feature_names, a.aggregation) == (b.name, b.feature_names, b.aggregation)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def bpe_dir(bpe_tokenizer, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bpe-tokenizer")
    bpe_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def table_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("table") / "mine.jsonl"
    sequence_table().to_json(path, orient="records", lines=True)
    return path


@pytest.fixture(scope="module")
def sequence_export(bpe_dir, table_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "seq"
    assert export_cli("custom", out, bpe_dir, f"path={table_file}") == 0
    return out


def test_a_sequence_level_export_imports_as_the_identical_dataset(
    bpe_tokenizer, sequence_export, table_file, tmp_path
):
    original = custom(bpe_tokenizer, table_file)
    assert is_export(sequence_export) and not is_export(table_file)
    imported = custom(bpe_tokenizer, sequence_export, cache=tmp_path / "cache")
    assert_same(original, imported)
    assert_same(original, custom(bpe_tokenizer, sequence_export, cache=tmp_path / "cache"))
    assert_same(original, FeatureDataset.load_from_disk(sequence_export))
    assert_same(original, FeatureDataset.load_from_disk(sequence_export, tokenizer=bpe_tokenizer))
    # the import keeps the exported recipe next to the one that read the folder
    assert imported.meta["export"]["recipe"]["params"]["path"] == str(table_file)
    assert imported.meta["recipe"]["params"]["path"] == str(sequence_export)


def test_a_token_level_export_imports_as_the_identical_dataset(bpe_tokenizer, bpe_dir, tmp_path):
    table = tmp_path / "spans.jsonl"
    span_table().to_json(table, orient="records", lines=True)
    out = tmp_path / "tok"
    assert export_cli("custom", out, bpe_dir, f"path={table}") == 0
    original = custom(bpe_tokenizer, table)
    assert original.aggregation == "token"
    assert_same(original, custom(bpe_tokenizer, out))


def test_a_built_in_collection_round_trips_with_provenance_per_row(
    bpe_tokenizer, bpe_dir, tmp_path
):
    import datasets

    out, cache, prose = tmp_path / "tp", tmp_path / "cache", tmp_path / "prose"
    prose.mkdir()  # a prose root of its own: 12 pinned documentation pages
    for page in prose_files(prose_roots())[:12]:
        (prose / page.name).write_text(page.read_text())
    params = {"n_sequences": 16, "tokens_per_sequence": 4, "max_per_doc": 4, "roots": [str(prose)]}
    sets = [f"{k}={json.dumps(v)}" for k, v in params.items()]
    assert export_cli("token_position", out, bpe_dir, *sets, cache=cache) == 0
    built = build_feature_dataset("token_position", bpe_tokenizer, cache_dir=cache, **params)
    assert_same(built, custom(bpe_tokenizer, out))

    info = json.loads((out / EXPORT_FILE).read_text())
    collection = COLLECTIONS["token_position"]
    assert info["name"] == "token_position" and info["feature_names"] == built.feature_names
    assert info["aggregation"] == "token" and info["content_hash"] == built.content_hash()
    assert info["tokenizer"]["fingerprint"] == tokenizer_fingerprint(bpe_tokenizer)
    assert info["recipe"] == built.meta["recipe"]
    assert (info["source"], info["licence"]) == (collection.source, collection.licence)

    rows = datasets.load_from_disk(str(out))
    assert json.loads(rows.info.description) == info  # the same record inside the dataset
    assert rows.num_rows == built.n_sequences
    for s in (0, built.n_sequences - 1):
        row = rows[s]
        ids = built.tokens[s, : built.lengths[s]].tolist()
        assert row["tokens"] == ids
        assert row["text"] == bpe_tokenizer.decode(ids, clean_up_tokenization_spaces=False)
        start, stop = built.examples_of(s, s + 1)
        assert row["positions"] == built.example_pos[start:stop].tolist()
        assert row["labels"]["pos_lt_8"] == built.label("pos_lt_8")[start:stop].tolist()
        assert row["group"] == built.groups[start]
        assert row["document"] == built.meta["documents"][str(row["group"])]
        assert Path(row["document"]).parent == prose


def test_a_custom_export_names_the_users_documents(sequence_export):
    import datasets

    rows = datasets.load_from_disk(str(sequence_export))
    assert rows[0]["document"] == "d0" and rows[5]["document"] == "d1"


def test_a_token_level_export_refuses_another_tokenizer_naming_both(
    bpe_tokenizer, byte_tokenizer, bpe_dir, tmp_path
):
    table = tmp_path / "spans.jsonl"
    span_table().to_json(table, orient="records", lines=True)
    out = tmp_path / "tok"
    assert export_cli("custom", out, bpe_dir, f"path={table}") == 0
    with pytest.raises(FeatureDataError) as info:
        custom(byte_tokenizer, out)
    message = str(info.value)
    assert "\n" not in message
    assert tokenizer_fingerprint(bpe_tokenizer) in message
    assert tokenizer_fingerprint(byte_tokenizer) in message
    assert "export" in message


def test_a_sequence_level_export_is_retokenised_under_a_new_name(
    bpe_tokenizer, byte_tokenizer, sequence_export, caplog
):
    exported = load_export(sequence_export)
    retok = custom(byte_tokenizer, sequence_export)
    fingerprint = tokenizer_fingerprint(byte_tokenizer)
    assert retok.name != exported.name and fingerprint[:8] in retok.name
    assert retok.content_hash() != exported.content_hash()
    assert retok.meta["retokenised"]["from"] == tokenizer_fingerprint(bpe_tokenizer)
    assert retok.meta["retokenised"]["to"] == fingerprint
    for name in ("example_seq", "example_pos", "labels", "groups"):
        np.testing.assert_array_equal(getattr(retok, name), getattr(exported, name))
    seq_len = exported.tokens.shape[1]
    assert retok.tokens.shape == (exported.n_sequences, seq_len)
    for s in (0, 1, exported.n_sequences - 1):
        text = bpe_tokenizer.decode(
            exported.tokens[s, : exported.lengths[s]].tolist(), clean_up_tokenization_spaces=False
        )
        ids = byte_tokenizer(text, add_special_tokens=False)["input_ids"][:seq_len]
        assert retok.tokens[s, : retok.lengths[s]].tolist() == ids
    assert any("re-tokenis" in r.getMessage() for r in caplog.records)


def copy_export(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def damage_cases(src: Path, tmp_path: Path, bpe_tokenizer):
    """(folder, words the error names) for each way a copied export can be broken."""
    import datasets

    def arrow_of(folder: Path) -> Path:
        return next(folder.glob("*.arrow"))

    cases = []
    folder = copy_export(src, tmp_path / "no-data")
    arrow_of(folder).unlink()
    cases.append((folder, "damaged or incomplete"))
    folder = copy_export(src, tmp_path / "truncated")
    data = arrow_of(folder).read_bytes()
    arrow_of(folder).write_bytes(data[: len(data) // 2])
    cases.append((folder, "damaged or incomplete"))
    folder = copy_export(src, tmp_path / "no-record")
    (folder / EXPORT_FILE).unlink()
    cases.append((folder, EXPORT_FILE))
    folder = copy_export(src, tmp_path / "bad-record")
    (folder / EXPORT_FILE).write_text('{"format": "probing.feature_export", "nam')
    cases.append((folder, EXPORT_FILE))
    # the record edited into other valid JSON: meta decides which features a run probes
    folder = copy_export(src, tmp_path / "edited-record")
    record = json.loads((folder / EXPORT_FILE).read_text())
    record["meta"]["class_balance"] = {}
    (folder / EXPORT_FILE).write_text(json.dumps(record))
    cases.append((folder, "record_hash"))
    # the same edit with the record_hash deleted, as if the export predated it
    folder = copy_export(src, tmp_path / "edited-unhashed")
    record = json.loads((folder / EXPORT_FILE).read_text())
    record["meta"]["class_balance"] = {}
    del record["record_hash"]
    (folder / EXPORT_FILE).write_text(json.dumps(record))
    cases.append((folder, "lacks ['record_hash']"))
    # a row edited after the export: the arrays no longer give the recorded content hash
    folder = tmp_path / "edited"
    rows = datasets.load_from_disk(str(src))

    def flip_first(row: dict, i: int) -> dict:
        labels = row["labels"]
        return {"labels": {k: [1 - v for v in vs] if i == 0 else vs for k, vs in labels.items()}}

    edited = rows.map(flip_first, with_indices=True, keep_in_memory=True)  # src stays as it was
    edited.save_to_disk(str(folder))
    (folder / EXPORT_FILE).write_text((src / EXPORT_FILE).read_text())
    cases.append((folder, "content hash"))
    return cases


def test_a_damaged_export_is_one_clear_line(bpe_tokenizer, sequence_export, tmp_path):
    for folder, words in damage_cases(sequence_export, tmp_path, bpe_tokenizer):
        assert is_export(folder), folder
        with pytest.raises(FeatureDataError) as info:
            custom(bpe_tokenizer, folder)
        message = str(info.value)
        assert "\n" not in message, (folder, message)
        assert str(folder) in message and words in message, (folder, message)
        assert "export" in message


def test_feature_only_is_checked_against_the_exported_features(sequence_export):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from probing.config import validate_config
    from probing.errors import ConfigError

    overrides = ["model=tiny-pythia", "feature=custom/file", f"feature.path={sequence_export}"]
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            good = compose(config_name="config", overrides=[*overrides, "feature.only=[low]"])
            bad = compose(config_name="config", overrides=[*overrides, "feature.only=[nope]"])
    finally:
        GlobalHydra.instance().clear()
    validate_config(good)
    with pytest.raises(ConfigError, match=r"feature.only names \['nope'\], not features"):
        validate_config(bad)


def test_export_refuses_a_used_folder_before_building(bpe_dir, tmp_path, capsys):
    out = tmp_path / "used"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert export_cli("custom", out, bpe_dir, f"path={tmp_path / 'missing.jsonl'}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "not empty" in err[0]
    assert (out / "keep.txt").read_text() == "mine"


def test_a_failed_export_leaves_no_folder(bpe_dir, tmp_path, capsys):
    out = tmp_path / "never"
    assert export_cli("custom", out, bpe_dir, f"path={tmp_path / 'missing.jsonl'}") == 2
    assert "no such file" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_the_run_cli_probes_an_exported_folder(tmp_path, table_file):
    """tiny-pythia's tokenizer is the in-memory byte-level one: export with it, then run."""
    from probing.models import byte_level_tokenizer

    tokenizer_dir = tmp_path / "byte-level"
    byte_level_tokenizer().save_pretrained(tokenizer_dir)
    out = tmp_path / "export"
    assert export_cli("custom", out, tokenizer_dir, f"path={table_file}") == 0
    env = {**os.environ, "PROBING_CACHE": str(tmp_path / "cache"), "WANDB_MODE": "offline"}
    args = ["model=tiny-pythia", "feature=custom/file", "logger=none", "progress=false"]
    args += ["probe.ks=[1]", "layer=middle"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "probing.run",
            *args,
            f"feature.path={out}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    from probing.results import read_results

    results = read_results(tmp_path / "run")
    assert set(results["feature"]) == {"is_code", "low"}

    broken = copy_export(out, tmp_path / "broken")
    (broken / EXPORT_FILE).unlink()
    proc = subprocess.run(
        # its own run directory: the first run's rows are another configuration's
        [
            sys.executable,
            "-m",
            "probing.run",
            *args,
            f"feature.path={broken}",
            f"hydra.run.dir={tmp_path / 'broken-run'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1 and EXPORT_FILE in errors[0]


def test_flipped_bytes_in_the_rows_are_damage_never_data_nor_a_crash(sequence_export, tmp_path):
    """Bit rot anywhere in the arrow file: list offsets that point outside their buffers would
    crash the reader (a segfault, not an error) unless the table is validated first. A flip in
    bytes nobody reads (padding, a metadata string) may pass, and then the data is intact."""
    folder = copy_export(sequence_export, tmp_path / "flipped")
    original = load_export(sequence_export)
    (arrow,) = folder.glob("*.arrow")
    good = arrow.read_bytes()
    rng = np.random.default_rng(0)
    detected = 0
    for _ in range(200):
        data = bytearray(good)
        for at in rng.integers(len(data), size=3):
            data[at] ^= 1 << int(rng.integers(8))
        arrow.write_bytes(bytes(data))
        try:
            assert_same(original, load_export(folder))
        except FeatureDataError as err:
            assert "damaged or incomplete" in str(err) and "\n" not in str(err)
            detected += 1
    assert detected > 150


def test_export_to_a_folder_under_a_file_is_one_line_before_building(
    bpe_dir, table_file, tmp_path, capsys
):
    """Was mkdir's FileExistsError traceback, after the whole build."""
    (tmp_path / "a_file").write_text("mine")
    out = tmp_path / "a_file" / "sub"
    assert export_cli("custom", out, bpe_dir, f"path={table_file}") == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --out ") and "is a file" in err[0]
    assert "sequences" not in captured.out  # refused before the build
    assert (tmp_path / "a_file").read_text() == "mine"


@pytest.mark.parametrize("command", ["export", "build"])
@pytest.mark.parametrize(
    "value,why",
    [("-1", "n_sequences=-1 must be >= 1"), ("many", "n_sequences='many' must be an int")],
)
def test_a_bad_set_value_is_one_line_before_the_tokenizer_loads(
    command, value, why, tmp_path, capsys
):
    """--set n_sequences=-1 was numpy's 'need at least one array to concatenate' traceback;
    now the check probing.run applies to feature.params. The tokenizer folder is empty: the
    value is refused before it would be read."""
    argv = [
        command,
        "token_position",
        "--tokenizer",
        str(tmp_path),
        "--set",
        f"n_sequences={value}",
    ]
    if command == "export":
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and why in err[0]
    assert not (tmp_path / "out").exists()


def test_a_cache_dir_that_is_a_file_is_one_line_naming_it_before_building(
    bpe_dir, table_file, tmp_path, capsys
):
    """Was mkdir's FileExistsError traceback after the build (now: a line about --out, a flag
    the user never gave)."""
    cache = tmp_path / "a_file"
    cache.write_text("mine")
    out = tmp_path / "out"
    assert export_cli("custom", out, bpe_dir, f"path={table_file}", cache=cache) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"error: --cache-dir {cache}: {cache} is a file; choose a folder outside it"
    ]
    assert "sequences" not in captured.out and cache.read_text() == "mine"


def test_a_full_disk_while_exporting_is_one_line(
    bpe_dir, table_file, tmp_path, capsys, monkeypatch
):
    """Only FeatureDataError was caught: an OSError (no space, permission denied) from writing
    the folder was a traceback."""
    import errno

    import probing.features.__main__ as cli

    def full(ds, out, tokenizer):
        raise OSError(errno.ENOSPC, "No space left on device", str(out))

    monkeypatch.setattr(cli, "export_feature_dataset", full)
    out = tmp_path / "out"
    assert export_cli("custom", out, bpe_dir, f"path={table_file}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot write {out}: the disk is full")


def test_hashes_with_a_cache_dir_that_is_a_file_is_one_line_before_the_tokenizer(tmp_path, capsys):
    cache = tmp_path / "a_file"
    cache.write_text("mine")
    argv = ["hashes", "token_position", "--tokenizer", str(tmp_path), "--cache-dir", str(cache)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --cache-dir {cache}: {cache} is a file; choose a folder outside it"]


def test_ctrl_c_during_a_build_is_one_line_and_leaves_no_folder(
    bpe_dir, table_file, tmp_path, capsys, monkeypatch
):
    """Was KeyboardInterrupt's traceback; the export is written whole or not at all either way."""
    import probing.features.__main__ as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_feature_dataset", interrupted)
    out = tmp_path / "out"
    assert export_cli("custom", out, bpe_dir, f"path={table_file}") == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: interrupted;")
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_a_parameter_written_as_an_override_is_pointed_at_set(tmp_path, capsys):
    # argparse's "unrecognized arguments" did not say how a builder parameter is passed
    out = tmp_path / "out"
    args = ["export", "token_position", "--out", str(out), "feature.params.n_sequences=10"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: feature.params.n_sequences=10 is not an argument: a builder parameter is "
        "--set n_sequences=10"
    ]
    assert not out.exists()
    with pytest.raises(SystemExit):  # anything else stays argparse's own error
        main(["list", "--bogus"])


def test_a_custom_table_is_named_in_this_commands_own_words(bpe_dir, table_file, tmp_path, capsys):
    """`build custom` without a table said "feature.path=FILE", and `--set feature.path=FILE`
    was then refused ("feature.params has no ['feature.path']"): the message gives --set
    path=FILE, and the config's spelling is taken as that too."""
    assert main(["build", "custom", "--tokenizer", str(bpe_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--set path=FILE" in err[0] and "feature.path" not in err[0]
    out = tmp_path / "out"
    assert export_cli("custom", out, bpe_dir, f"feature.path={table_file}") == 0
    assert is_export(out)


def test_a_preset_exports_the_dataset_its_runs_probe():
    """quick/programming_language is the default run's feature config: export and build take
    its collection and parameters (composed as probing.run composes them), --set over them."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from probing.features.__main__ import checked_sets, preset

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        run = compose("config", overrides=["feature=quick/programming_language"]).feature
    name, params = preset("quick/programming_language")
    assert name == "programming_language" == run.name
    assert params == OmegaConf.to_container(run.params, resolve=True)
    assert params["n_per_class"] == 300  # the preset's, not the collection's 1000
    assert checked_sets(name, ["n_per_class=20"], params)["n_per_class"] == 20
    assert preset("programming_language") == ("programming_language", {})
    assert preset("quick/nope") == ("quick/nope", {})  # refused by name as before


def test_an_unknown_preset_is_one_line(capsys):
    assert main(["build", "quick/nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown feature collection 'quick/nope'" in err[0]
