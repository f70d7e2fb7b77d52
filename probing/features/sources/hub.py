"""Open a Hugging Face dataset split for a collection: from a local folder, the HF cache or the hub,
and fail in seconds, in one line, when none of them has it.

`datasets.load_dataset` on an unreachable hub retries each request for ~25 s and prints a warning
per try. So the hub is probed once per process (one TCP connect, 3 s); when it does not answer,
the load runs in `datasets`' offline mode, where only the local HF cache can serve it, and a miss
becomes a FeatureDataError naming the dataset and the offline alternative (a local copy made with
`hf download ... --local-dir DIR`, or `save_to_disk`, then `feature.hf=DIR`).
A local folder never touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import quote

from probing.features.core.errors import FeatureDataError
from probing.hub import hub_host, hub_reachable  # noqa: F401 - hub_host: this module's API too

SAVED_MARKERS = ("dataset_dict.json", "state.json", "dataset_info.json")


def is_local(hf: str) -> bool:
    """A folder on this machine (what exists, or what is written as a path), not ORG/NAME."""
    return Path(hf).expanduser().exists() or hf.startswith(("/", "./", "../", "~"))


@contextmanager
def offline_mode() -> Iterator[None]:
    """`datasets` and `huggingface_hub` read HF_HUB_OFFLINE once, at import: set their flags."""
    import datasets
    from huggingface_hub import constants

    before = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = before


def include(data_dir: str | None, data_files: str | None) -> str | None:
    """The part of the repository a collection reads, as a --include pattern."""
    return data_files or (f"{data_dir}/*" if data_dir else None)


def offline_hint(hf: str, revision: str | None = None, pattern: str | None = None) -> str:
    """What to run where the hub is reachable, so a machine without it can read the dataset."""
    command = f"hf download --repo-type dataset {hf}"
    if revision:
        command += f" --revision {revision}"
    if pattern:
        command += f" --include '{pattern}'"
    return (
        f"download it where the hub is reachable ({command} --local-dir DIR, or load it and "
        "save_to_disk(DIR)) into a shared folder, then set feature.hf=DIR"
    )


@contextmanager
def one_line_errors(
    hf: str, revision: str | None = None, pattern: str | None = None
) -> Iterator[None]:
    """Whatever `datasets` raises while opening or reading `hf` (streamed rows are fetched while
    iterating) as one FeatureDataError line."""
    try:
        yield
    except FeatureDataError:
        raise
    except ConnectionError:  # datasets' offline-mode and unreachable-hub errors
        raise FeatureDataError(
            f"feature.hf={hf} is not in the local Hugging Face cache and the hub ({hub_host()}) "
            f"is unreachable: {offline_hint(hf, revision, pattern)}"
        ) from None
    except (ValueError, FileNotFoundError) as err:  # a bad split, config or data_dir
        raise FeatureDataError(f"feature.hf={hf}: {_first_line(err)}") from None
    except Exception as err:
        raise FeatureDataError(
            f"feature.hf={hf} could not be read ({type(err).__name__}: {_first_line(err)}); "
            f"{offline_hint(hf, revision, pattern)}"
        ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def packaged(data_files: str) -> str:
    """The `datasets` builder for data files named by a pattern: parquet, json (.jsonl, .json,
    compressed or not) or csv."""
    name = data_files.lower()
    for suffix, builder in ((".parquet", "parquet"), (".csv", "csv"), (".json", "json")):
        if suffix in name:
            return builder
    raise FeatureDataError(f"feature.params.data_files={data_files}: not parquet, json or csv")


def open_split(
    hf: str,
    split: str,
    hf_config: str | None = None,
    data_dir: str | None = None,
    revision: str | None = None,
    streaming: bool = False,
    data_files: str | None = None,
):
    """The `split` of `hf` (a hub id, a local folder of data files, or a save_to_disk folder, also
    as its `data_dir` subfolder) as a datasets.Dataset, or an IterableDataset when streaming;
    FeatureDataError (one line) if nothing serves it. `revision` applies to hub ids only. `data_files` (a pattern inside the
    repository or folder) reads those files with the plain parquet/json/csv reader, for a
    repository whose loading script `datasets` no longer runs."""
    import datasets

    if is_local(hf):
        folder = Path(hf).expanduser()
        if not folder.is_dir():
            raise FeatureDataError(f"feature.hf={hf}: no such folder")
        with one_line_errors(hf), offline_mode():
            if data_files:
                files = {split: str(folder / data_files)}
                return datasets.load_dataset(
                    packaged(data_files), data_files=files, split=split, streaming=streaming
                )
            saved = folder / data_dir if data_dir and (folder / data_dir).is_dir() else folder
            if any((saved / m).exists() for m in SAVED_MARKERS):
                loaded = datasets.load_from_disk(str(saved))
                if isinstance(loaded, datasets.DatasetDict):
                    if split not in loaded:
                        raise FeatureDataError(
                            f"feature.hf={hf}: no split {split!r}; choose feature.split from "
                            f"{sorted(loaded)}"
                        )
                    loaded = loaded[split]
                return loaded.to_iterable_dataset() if streaming else loaded
            return datasets.load_dataset(
                str(folder), hf_config, data_dir=data_dir, split=split, streaming=streaming
            )
    online = hub_reachable()
    if not online and streaming:  # a streamed dataset is read from the hub, never from a cache
        raise FeatureDataError(
            f"feature.hf={hf} is streamed from the hub, which is unreachable ({hub_host()}): "
            f"{offline_hint(hf, revision, include(data_dir, data_files))}"
        )
    with (
        one_line_errors(hf, revision, include(data_dir, data_files)),
        nullcontext() if online else offline_mode(),
    ):
        if data_files:
            at = f"@{quote(revision, safe='')}" if revision else ""
            files = {split: f"hf://datasets/{hf}{at}/{data_files}"}
            return datasets.load_dataset(
                packaged(data_files), data_files=files, split=split, streaming=streaming
            )
        return datasets.load_dataset(
            hf, hf_config, data_dir=data_dir, revision=revision, split=split, streaming=streaming
        )


def source_problem(params: dict) -> str | None:
    """Why the configured source cannot be read here, found before any model loads: a missing
    folder, or a hub id with the hub unreachable and nothing in the local cache."""
    hf = params.get("hf")
    if not isinstance(hf, str) or not hf.strip():
        return "feature.hf must name a Hugging Face dataset or a local folder"
    if is_local(hf):
        return None if Path(hf).expanduser().is_dir() else f"feature.hf={hf}: no such folder"
    if hub_reachable():
        return None
    try:  # offline: only the cache can serve it (a non-streamed load reads it memory-mapped)
        open_split(
            hf,
            params.get("split") or "train",
            params.get("hf_config"),
            params.get("data_dir"),
            params.get("revision"),
            bool(params.get("streaming")),
            params.get("data_files"),
        )
    except FeatureDataError as err:
        return str(err)
    return None
