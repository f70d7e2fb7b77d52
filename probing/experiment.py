"""One job, start to end: config -> feature dataset -> model -> activation store -> probes ->
results -> loggers. A plain function of the config, usable without Hydra's command line."""

from __future__ import annotations

import errno
import gc
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from probing.activations import extract_activations, open_store
from probing.activations.extract import hook_width
from probing.activations.store import store_identity
from probing.config import Config, Probe, validate_config
from probing.errors import ConfigError
from probing.features import (
    COLLECTIONS,
    FeatureDataError,
    FeatureDataset,
    build_feature_dataset,
)
from probing.features.core.build import check_labels
from probing.features.core.duplicates import merge_duplicates
from probing.model_sites import output_weights
from probing.models import load_model
from probing.probes import paper_k_list, probe_layer
from probing.probes.baselines import Baselines
from probing.provenance import code_version, library_versions, provenance
from probing.results import ResultWriter, read_results
from probing.sae import (
    SAEError,
    SparseAutoencoder,
    check_against_model,
    load_sae,
    resolve_sae_folder,
)
from probing.sae.compare import (
    COSINE_FILE,
    decoder_cosines,
    format_side_by_side,
    output_directions,
    side_by_side,
)
from probing.splits import SplitError, split_by_document
from probing.summaries import format_summary, summarize

log = logging.getLogger(__name__)


def resolve_layers(spec: str | int | Sequence[int], n_layers: int) -> list[int]:
    """ "all", "middle", "quartiles", one index or a list; negative indices count from the end."""
    if spec == "all":
        return list(range(n_layers))
    if spec == "middle":
        return [n_layers // 2]
    if spec == "quartiles":
        return sorted({round(q * (n_layers - 1)) for q in (0, 0.25, 0.5, 0.75, 1)})
    items = [spec] if isinstance(spec, int) else list(spec)
    layers = []
    for i in items:
        if not isinstance(i, int) or not -n_layers <= i < n_layers:
            raise ConfigError(
                f"layer {i!r} invalid: the model has {n_layers} layers (use 0..{n_layers - 1}, "
                "negative from the end, or all / middle / quartiles)"
            )
        layers.append(i % n_layers)
    return sorted(set(layers))


def select_features(all_features: list[str], only: Sequence[str] | None) -> list[str]:
    if not only:
        return list(all_features)
    unknown = sorted(set(only) - set(all_features))
    if unknown:
        raise ConfigError(f"feature.only names {unknown}; this collection has {all_features}")
    return [f for f in all_features if f in set(only)]


def run_experiment(
    cfg: Config | DictConfig | Mapping[str, Any],
    run_dir: str | Path,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Run one (model, feature collection) job; returns the per-feature summary table.

    `table`: with feature=custom/file, a DataFrame from Python (a `text` column, 0/1 feature
    columns or span lists, optional `group`) used instead of feature.path (see probe_table).

    The config (Hydra's composed DictConfig, a plain mapping, or a Config) is validated first
    (probing.config), so a bad value costs seconds, not a model load; the job reads only the
    typed Config it returns. A rerun into the same run directory (a requeued job) keeps the blocks of rows it
    already wrote and probes only the rest.
    """
    import hydra.utils

    config = validate_config(asdict(cfg) if isinstance(cfg, Config) else cfg, table=table)
    run_dir = Path(run_dir)
    # Hydra's boundary: the logger is the object its `_target_` names
    logger = hydra.utils.instantiate(config.logger) if config.logger else None
    if logger is not None:  # before the model loads: a job that dies loading still has its run
        plain = asdict(config)  # W&B's config: a plain dict
        plain["provenance"] = {"code_version": code_version(), "libraries": library_versions()}
        logger.start(run_dir, name=run_name(config), config=plain)
    try:
        summary = _run(config, run_dir, logger, table)
    except BaseException:  # marked failed, and closed so the rest of a multirun can log
        if logger is not None:
            logger.finish(exit_code=1)
        raise
    if logger is not None:
        logger.finish()
    return summary


def run_name(cfg: Config) -> str:
    """model[@revision][#hook]/collection/method: what the job measured, readable in W&B."""
    model = cfg.model.name
    if cfg.model.revision:
        model += f"@{cfg.model.revision}"
    if cfg.hook != Config.hook:  # the paper's site (mlp_post) goes unnamed
        model += f"#{cfg.hook}"
    return f"{model}/{cfg.feature.name}/{cfg.probe.method}"


def check_ks(ks: Sequence[int] | None, d_mlp: int) -> list[int]:
    """The k sweep: the paper's list, or the configured ks, every one of them possible."""
    if not ks:
        return paper_k_list(d_mlp)
    too_big = [k for k in ks if k > d_mlp]
    if too_big:
        raise ConfigError(
            f"probe.ks has {too_big} > {d_mlp}, the width of what is probed (d_mlp for "
            "hook=mlp_post, d_sae for hook=sae, d_model for the other hooks)"
        )
    return sorted(set(ks))


def make_splits(
    dataset, features: list[str], test_fraction: float, val_fraction: float, seed: int
) -> dict:
    """{feature: (train, val, test)} by document; a feature whose split is impossible is skipped
    with a warning naming it, and the run fails only when no feature is left."""
    splits = {}
    for feature in features:
        try:
            splits[feature] = split_by_document(
                dataset.label(feature), dataset.groups, test_fraction, val_fraction, seed
            )
        except SplitError as err:
            log.warning("skipping feature %s of %s: %s", feature, dataset.name, err)
    if not splits:
        raise SplitError(f"no feature of {dataset.name} can be split for probing: {features}")
    return splits


def run_key(
    store,
    probe: Probe,
    ks: list[int],
    features: list[str],
    baselines: Baselines,
    duplicates: dict | None = None,
) -> str:
    """What determines a job's rows: the activations (store identity) and the probing setup.

    It keys resumable results (a requeued job finds its rows by it), so it must not change for
    the same config: `probe` is hashed as the plain dict of its values, as given."""
    spec = {
        "store": store_identity(store.metadata),
        "probe": asdict(probe),
        "baselines": asdict(baselines),
        "duplicates": duplicates or {},
        "ks": ks,
        "features": features,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def baselines_of(cfg: Config) -> Baselines:
    """The chance baselines a run asks for (conf/config.yaml `baselines`)."""
    spec = cfg.baselines
    return Baselines(tuple(spec.ks), int(spec.permutations), int(spec.random_supports))


def duplicates_of(cfg: Config) -> dict:
    """How duplicate texts across documents are handled (conf/config.yaml `duplicates`)."""
    return asdict(cfg.duplicates)


def _run(cfg: Config, run_dir: Path, logger, table: pd.DataFrame | None) -> pd.DataFrame:
    t0 = time.perf_counter()
    # What a user can get wrong about directories fails here, before the model loads.
    writer = ResultWriter(run_dir)  # claims the run directory: another live run is refused
    try:
        for folder in (cfg.paths.features, cfg.paths.activations):
            check_writable(Path(folder))
        return _load_and_run(cfg, run_dir, logger, table, writer, t0)
    finally:
        writer.close()


def check_writable(folder: Path) -> None:
    """Create `folder` and write a file in it (OSError with the path if the disk says no)."""
    if folder.exists() and not folder.is_dir():  # mkdir would raise EEXIST, no user error
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a directory", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def _load_and_run(
    cfg: Config,
    run_dir: Path,
    logger: Any,
    table: pd.DataFrame | None,
    writer: ResultWriter,
    t0: float,
) -> pd.DataFrame:
    if cfg.feature.preset:
        print(f"{cfg.feature.name}: a smaller preset, {cfg.feature.preset}", flush=True)
    model = load_model(**asdict(cfg.model), seed=cfg.seed, copies=cfg.paths.models)
    hook = cfg.hook
    sae = load_job_sae(cfg, model) if hook == "sae" else None  # a bad SAE fails before the data
    params = asdict(cfg.feature)["params"]  # a copy: the builders may not touch the Config
    if table is not None:
        dataset = FeatureDataset.from_pandas(table, model.tokenizer, **params)
        dataset.meta["class_balance"], dataset.meta["unusable"] = check_labels(dataset, 10)
    else:
        dataset = build_feature_dataset(
            cfg.feature.name, model.tokenizer, cache_dir=Path(cfg.paths.features), **params
        )
    collection = COLLECTIONS[cfg.feature.name]
    probe = cfg.probe
    features = select_features(dataset.feature_names, cfg.feature.only)
    unusable = dataset.meta.get("unusable", {})
    features = [f for f in features if f not in unusable]  # build_feature_dataset warned
    if not features:
        raise FeatureDataError(f"no usable feature left in {dataset.name}: {list(unusable)}")
    duplicates = duplicates_of(cfg)
    report, moved = merge_duplicates(
        dataset, model.tokenizer, duplicates["near_jaccard"], duplicates["mode"]
    )
    if report.found:
        log.warning("%s", report.describe(dataset.name))
    dataset.meta["duplicate_examples"] = moved
    try:
        splits = make_splits(dataset, features, probe.test_fraction, probe.val_fraction, probe.seed)
    except SplitError as err:
        if report.documents_after < report.documents_before:  # the reason, not only the count
            raise SplitError(
                f"{err} (duplicate texts merged its {report.documents_before} documents into "
                f"{report.documents_after}: see the warning above)"
            ) from None
        raise
    features = list(splits)
    if sae is not None:
        layers = [sae.cfg.site.layer]
        print(
            f"hook=sae: {sae.name} ({sae.source}), layer {layers[0]}, beside that layer's neurons",
            flush=True,
        )
    else:
        layers = resolve_layers(cfg.layer.layers, model.n_layers)
    root, dtype = cfg.paths.activations, cfg.store.dtype
    # an SAE job probes its latents and, beside them, the neurons of the same layer
    probed = [("mlp_post", None), ("sae", sae)] if sae is not None else [(hook, None)]
    sites = [
        Site(
            h,
            open_store(root, model, dataset, dtype, h, s),
            check_ks(probe.ks, hook_width(model, h, s)),
            s,
        )
        for h, s in probed
    ]
    baselines = baselines_of(cfg)
    keys = [run_key(s.store, probe, s.ks, features, baselines, duplicates) for s in sites]
    key = keys[0] if len(keys) == 1 else hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
    writer.resume(key, rows_per_block={s.hook: len(s.ks) for s in sites})
    job = Job(cfg, run_dir, logger, model, dataset, collection, sites, writer, layers, features)
    del model  # the job holds the only reference, so probing can give the memory back
    return _extract_and_probe(job, splits, t0)


def load_job_sae(cfg: Config, model: Any) -> SparseAutoencoder:
    """The job's SAE, checked against the model (one line, exit 2, before any extraction)."""
    spec = cfg.sae
    folder = resolve_sae_folder(spec.path, spec.release, spec.id)
    source = spec.path or f"{spec.release}/{spec.id or ''}"
    sae = load_sae(folder, source=source)
    site = sae.cfg.site
    if not site.layer < model.n_layers:
        raise SAEError(f"the SAE reads layer {site.layer} but {model.name} has {model.n_layers}")
    check_against_model(sae.cfg, model.name, cfg.model.hf_id, hook_width(model, site.hook))
    return sae.to(model.device)


@dataclass
class Site:
    """One thing a job probes: a hook's activations (or an SAE's latents) in their store."""

    hook: str  # mlp_post, mlp_out, attn_out, resid_post, or sae
    store: Any  # ActivationStore
    ks: list[int]
    sae: SparseAutoencoder | None = None


@dataclass
class Job:
    """What a job has prepared once its model, dataset and stores are open."""

    cfg: Config
    run_dir: Path
    logger: Any
    model: Any  # LoadedModel; dropped after extraction
    dataset: FeatureDataset
    collection: Any  # Collection
    sites: list[Site]
    writer: ResultWriter
    layers: list[int]
    features: list[str]


def _extract_and_probe(job: Job, splits: dict, t0: float) -> pd.DataFrame:
    cfg, logger, dataset, collection = job.cfg, job.logger, job.dataset, job.collection
    writer, layers, features, model = job.writer, job.layers, job.features, job.model
    job.model = None  # the local name below is the last reference, dropped after extraction
    todo = {
        site.hook: [la for la in layers if not all(writer.done(la, f, site.hook) for f in features)]
        for site in job.sites
    }
    if any(len(t) < len(layers) for t in todo.values()):
        log.info("resuming: some layers were already probed in %s", writer.path)
    chunks = cfg.store.chunk_sequences
    for site in job.sites:
        computed = extract_activations(
            model,
            dataset,
            site.store,
            todo[site.hook],
            batch_size=cfg.model.batch_size,
            chunk_sequences=None if chunks == "auto" else chunks,
            progress=cfg.progress,
            lock_timeout_s=60.0 * cfg.store.lock_timeout_min,
            sae=site.sae,
        )
        log.info(
            "activations: %s (%d layers computed, %d reused)",
            site.store.path,
            len(computed),
            len(todo[site.hook]) - len(computed),
        )
    t_extract = time.perf_counter() - t0
    # dataset_hash: the content of the examples every row was probed on (it also keys the store)
    identity = {
        "model": model.name,
        "revision": model.revision,
        "d_mlp": model.d_mlp,
        "n_layers": model.n_layers,
        "dataset_hash": dataset.content_hash(),
        **provenance(model.device, cfg.seed, cfg.probe.seed),
    }
    sae_site = next((s for s in job.sites if s.sae is not None), None)
    down = (
        output_weights(model.sites, layers[0])
        if sae_site is not None and model.sites is not None
        else None
    )
    del model  # probing needs only the store; give the memory back
    gc.collect()

    probe = cfg.probe
    if logger is not None:
        logger.describe_model(identity["n_layers"], identity["d_mlp"], cfg.model.n_params)
    blocks = [
        (s.hook, la, f)
        for s in job.sites
        for la in todo[s.hook]
        for f in features
        if not writer.done(la, f, s.hook)
    ]
    bar = tqdm(total=len(blocks), desc="probing (layer x feature)", disable=not cfg.progress)
    labels = {f: dataset.label(f).astype(np.int64) for f in features}
    baselines = baselines_of(cfg)
    for site in job.sites:
        site_fields = {"hook": site.hook, **sae_fields(site.sae)}
        for layer in todo[site.hook]:
            X = np.asarray(site.store.read(layer), dtype=np.float32)
            pending = [f for f in features if not writer.done(layer, f, site.hook)]
            # every feature x k of the layer in one call: one batched solve on the torch backend
            by_feature = probe_layer(
                X,
                labels,
                {f: splits[f] for f in pending},
                site.ks,
                method=probe.method,
                backend=probe.backend,
                seed=probe.seed,
                C=probe.C,
                rotate=probe.rotate,
                groups=dataset.groups,
                baselines=baselines,
            )
            for feature, rows in by_feature.items():
                y = labels[feature]
                train, val, test = splits[feature]
                for row in rows:
                    row.update(
                        identity,
                        **site_fields,
                        feature=feature,
                        collection=collection.name,
                        category=collection.category,
                        layer=layer,
                        method=probe.method + ("+rotated" if probe.rotate else ""),
                        n_train=len(train),
                        n_val=len(val),
                        n_test=len(test),
                        n_test_positive=int(y[test].sum()),
                        duplicate_examples=int(dataset.meta.get("duplicate_examples", 0)),
                        **truncation_fields(dataset, feature),
                        positive_fraction=float(y.mean()),
                    )
                writer.write(rows)
                bar.update()
                if logger is not None:
                    logger.log_layer(feature, layer, rows)
    bar.close()
    results = read_results(writer.path)
    summary = summarize(results)
    if logger is not None:
        logger.log_results(results, summary)
    elapsed = time.perf_counter() - t0
    print(f"\n{identity['model']} / {cfg.feature.name}: best single neurons (held-out F1)")
    print(format_summary(summary))
    if sae_site is not None and sae_site.sae is not None:
        table = compare_sae(results, sae_site.sae, down, job.run_dir)
        print(
            f"\n{identity['model']} / {cfg.feature.name}: neurons and SAE latents, layer "
            f"{layers[0]} ({sae_site.sae.name})"
        )
        print(format_side_by_side(table))
    if cfg.feature.preset:
        print(f"(feature preset {cfg.feature.preset})")
    print(
        f"results: {writer.path}  ({len(results)} rows; extraction {t_extract:.0f}s, "
        f"total {elapsed:.0f}s)"
    )
    return summary


def sae_fields(sae: SparseAutoencoder | None) -> dict:
    """Row fields naming the SAE whose latents a row probed (none for neurons)."""
    if sae is None:
        return {}
    return {
        "sae": sae.name,
        "sae_digest": sae.digest,
        "sae_source": sae.source,
        "sae_hook_name": sae.cfg.hook_name,
        "d_sae": sae.cfg.d_sae,
    }


def compare_sae(results: pd.DataFrame, sae: SparseAutoencoder, down, run_dir: Path):
    """The side-by-side table of the job's neurons and latents; the decoder cosines of each
    feature's best pair go to RUN_DIR/sae_cosines.jsonl (the report reads them)."""
    table = side_by_side(results)
    if down is None or table.empty:
        return table
    directions = output_directions(sae.decoder_directions().cpu(), sae.cfg.site.hook, down)
    ready = table.dropna(subset=["neuron"])
    pairs = [(int(a), int(b)) for a, b in zip(ready["latent"], ready["neuron"], strict=True)]
    cosines = ready[["model", "feature", "layer", "latent", "neuron"]].assign(
        decoder_cosine=decoder_cosines(directions, down, pairs), sae=sae.name
    )
    cosines.to_json(Path(run_dir) / COSINE_FILE, orient="records", lines=True)
    on = ["feature", "latent", "neuron"]
    return table.drop(columns="decoder_cosine").merge(
        cosines[[*on, "decoder_cosine"]], on=on, how="left"
    )[table.columns]


def truncation_fields(dataset: FeatureDataset, feature: str) -> dict:
    """Row fields saying how much of a user's texts the model read (custom datasets only)."""
    cut = dataset.meta.get("truncation")
    if not cut:
        return {}
    out: dict[str, float] = {"truncated_texts": int(cut["texts"])}
    if feature in cut.get("positives", {}):
        out["truncated_positive_fraction"] = float(cut["positives"][feature])
    return out


def probe_table(
    table: pd.DataFrame,
    overrides: Sequence[str] = (),
    run_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Probe your own features from Python: a DataFrame in, the summary table out, and the same
    results.jsonl (for the report and W&B) as `python -m probing.run feature=custom/file`.

        probe_table(df, ["model=smollm2-135m", "layer=quartiles"], run_dir="outputs/mine")
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf = Path(__file__).resolve().parents[1] / "conf"
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(
                "config", overrides=["feature=custom/file", "feature.path=null", *overrides]
            )
    finally:
        GlobalHydra.instance().clear()
    if run_dir is None:  # as the CLI names a run's (conf/config.yaml): a random part keeps
        # tables probed in the same second apart
        stamp = f"{time.strftime('%Y-%m-%d/%H-%M-%S')}-{secrets.token_hex(3)}"
        run_dir = Path("outputs") / f"{stamp}_{cfg.model.name}_custom"
    return run_experiment(cfg, run_dir, table=table)
