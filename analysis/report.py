"""`python -m analysis.report RUN_DIR... [-o report.html]`: one self-contained HTML report.

Reads every results.jsonl under the run directories (or a W&B project with --wandb), draws the
paper's plots (PNG files beside the report, and embedded in it), and writes the tables and the
neuron pages of the best single neurons into one HTML file that opens from disk.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from analysis import html, plots
from analysis.aggregate import load_results
from analysis.dynamics import RULE, scale_dynamics
from analysis.models import order_models
from analysis.neurons import NeuronPage, default_cache, neuron_page
from analysis.tables import best_neurons, sparsity, top_neurons
from probing.case_study_outputs import find_ablations, find_neuron_contexts
from probing.errors import below_least
from probing.jsonl import good_objects
from probing.sae.compare import COSINE_FILE, SAE_HOOK, side_by_side

log = logging.getLogger(__name__)


def primary_method(results: pd.DataFrame) -> str:
    """The method the cross-model plots use: the most common one that is not a control."""
    methods = results["method"].value_counts()
    real = [m for m in methods.index if not str(m).endswith("+rotated")]
    return real[0] if real else methods.index[0]


def build_report(
    results: pd.DataFrame,
    out: str | Path,
    cache: str | Path | None = None,
    fraction: float = 0.9,
    neuron_pages: int = 60,
    sources: Sequence[str] = (),
    ablations: pd.DataFrame | None = None,
    broad: dict | None = None,
    sae_cosines: pd.DataFrame | None = None,
) -> Path:
    """Write the report for `results` (a `load_results` table) to `out`; PNGs go to
    <out stem>_files/. `ablations`: rows of probing.case_studies.ablate, shown in their own section; `broad`:
    {model: {neuron_id: probing.case_studies.polysemantic info}}, shown on the neuron pages; `sae_cosines`:
    the decoder cosines hook=sae runs wrote, beside their latents.
    Returns the report's path."""
    if results.empty:
        raise ValueError("no result rows: nothing to report (are these run directories?)")
    out = Path(out)
    figures = out.with_name(out.stem + "_files")
    cache = Path(cache) if cache is not None else default_cache()
    method = primary_method(results)
    models = order_models(list(results["model"].unique()), results)
    best = best_neurons(results)
    sparse = sparsity(results, fraction)
    pages = _neuron_pages(results, best, cache, figures, neuron_pages)

    parts = [f"<h1>Sparse probing report</h1>{_overview(results, models, sources, cache)}"]
    parts.append(
        "<h2>Best single neurons</h2><p>Per model, feature and probe method: the layer "
        "whose best neuron (k=1) has the highest validation F1, with its test F1 "
        "(<code>f1_k1</code>) and that F1's 95% interval from resampling test documents "
        "(<code>f1_low</code>-<code>f1_high</code>); best_f1 is the test F1 of the best "
        "probe over all k and layers, also chosen on validation. Beside it, what chance "
        "gives: <code>f1_null</code>, the median test F1 of the same pipeline, its choice of "
        "layer included, rerun on labels permuted by document (train, val and test alike), "
        "and <code>p_value</code>, the share of those permutations that reach the neuron's F1 "
        "(<code>null_chooses_layer</code> false: rows from before the choice was rerun, whose "
        "null is the chosen layer's own, which may give too small a p); "
        "<code>p_adjusted</code> corrects it over the features of each run (Benjamini-Hochberg) "
        "and <code>significant</code> is false where it exceeds 0.05; <code>f1_chance</code> "
        "is the F1 of calling every example positive, <code>f1_random</code> the median F1 of "
        "a random neuron of the layer (empty for runs without baselines). Click a neuron for "
        "its page, a header to sort.</p>"
    )
    hrefs = [f"#{_anchor(r)}" if _anchor(r) in pages else None for r in best.to_dict("records")]
    parts.append(html.table(best, "best-neurons", links={"neuron_id": hrefs}))
    method_best = best[best["method"] == method]
    if not method_best.empty:
        intervals = plots.k1_intervals(method_best, figures / "k1_intervals.png", results)
        parts.append(
            f"<p>The same neurons ({escape(method)}) with their 95% intervals: where two bars "
            f"overlap, the test split cannot tell the two apart.</p>"
            f"{html.image(intervals, 'best single neurons with 95% intervals')}"
        )
    heatmap = plots.layer_heatmap(results, figures / "heatmap_k1.png", method=method)
    parts.append(
        f"<h2>Where single neurons encode each feature</h2><p>F1 of the best single "
        f"neuron per layer ({escape(method)}); with several models the columns are "
        f"relative depth (0 = first layer, 1 = last).</p>{html.image(heatmap, 'heatmap')}"
    )
    if ablations is not None and not ablations.empty:
        parts.append(_ablation_section(ablations, figures))
    parts.append(_sae_section(results, sae_cosines))
    parts.append(_sparsity_section(sparse, method, fraction, figures))
    dynamics = scale_dynamics(results, method)
    if not dynamics.empty:
        parts.append(
            f"<h2>Scale dynamics</h2><p>Per feature, across the models (smallest first): the "
            f"best single neuron's test F1 (<code>k1_f1</code>), the best probe's at any k "
            f"(<code>best_f1</code>), the best neuron's relative depth, and the class of the "
            f"change ({escape(method)}). Rule: {escape(RULE)}.</p>"
            f"{html.table(dynamics.astype({'models': str, 'k1_f1': str, 'best_f1': str, 'k1_layer_depth': str}), 'dynamics')}"
        )
    parts.append(_f1_vs_k_section(results, models, figures))
    parts.append(
        "<h2>Top neurons</h2><p>The five best single neurons (k=1) per model and feature, "
        "over all layers: ordered by validation F1, their test F1, precision and recall "
        "shown.</p>"
    )
    parts.append(html.table(top_neurons(results), "top-neurons"))
    parts.append(
        "<h2>Neuron pages</h2>"
        + "".join(_neuron_html(p, figures, (broad or {}).get(p.model, {})) for p in pages.values())
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html.page("Sparse probing report", "".join(parts)), encoding="utf-8")
    return out


def _overview(results: pd.DataFrame, models: list[str], sources: Sequence[str], cache: Path) -> str:
    facts = {
        "models (smallest first)": ", ".join(models),
        "features": f"{results['feature'].nunique()} in {results['collection'].nunique()} "
        f"collections ({', '.join(sorted(results['collection'].unique()))})",
        "probe methods": ", ".join(sorted(results["method"].unique())),
        "result rows": f"{len(results)} (after de-duplicating reruns: "
        f"{results.attrs.get('duplicates', 0)} dropped)",
        "sources": ", ".join(sources) or "-",
        "activation cache": str(cache),
        **provenance_facts(results),
    }
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts.items())
    return f"{_mixed_code_warning(results)}<table>{rows}</table>"


def _counts(values: pd.Series) -> str:
    counts = values.fillna("not recorded").astype(str).value_counts()
    return "; ".join(f"{value} ({n} rows)" for value, n in counts.items())


def provenance_facts(results: pd.DataFrame) -> dict[str, str]:
    """Which code, libraries and devices made the rows, with how many rows each."""
    facts = {"code version": _counts(_column(results, "code_version"))}
    if "libraries" in results:
        libraries = results["libraries"].map(
            lambda v: ", ".join(f"{k} {v[k]}" for k in sorted(v)) if isinstance(v, dict) else None
        )
        facts["libraries"] = _counts(libraries)
    facts["devices"] = _counts(_column(results, "device"))
    return facts


def _column(results: pd.DataFrame, name: str) -> pd.Series:
    return results[name] if name in results else pd.Series([None] * len(results), results.index)


def _mixed_code_warning(results: pd.DataFrame) -> str:
    """A warning when the rows come from more than one code version (or some say none)."""
    versions = _column(results, "code_version").fillna("not recorded").astype(str)
    if versions.nunique() <= 1:
        return ""
    log.warning("the report mixes rows of %d code versions", versions.nunique())
    return (
        f"<p class='warning'><strong>Warning:</strong> these rows come from "
        f"{versions.nunique()} code versions ({escape(', '.join(sorted(versions.unique())))}): "
        "numbers from different code may not be comparable; rerun the older jobs.</p>"
    )


def _ablation_section(rows: pd.DataFrame, figures: Path) -> str:
    plot = plots.ablation_effects(rows, figures / "ablation.png")
    columns = ["model", "feature", "layer", "neuron", "value", "f1_k1", "val_f1", "loss_pos",
               "delta_pos", "delta_neg", "random_delta_pos_median", "random_at_least", "n_random",
               "p_value", "p_specific", "p_adjusted", "p_specific_adjusted", "significant"]  # fmt: skip
    table = rows[[c for c in columns if c in rows]].round(4)
    return (
        "<h2>Ablation of the best single neurons</h2><p>Each feature's best k=1 neuron set to "
        "its mean activation (or zero): the change in next-token loss (nats) on text with the "
        "feature (<code>delta_pos</code>) and without it (<code>delta_neg</code>), beside the "
        "median over random neurons of the same layer; <code>random_at_least</code> is the share "
        "of those that hurt text with the feature as much. <code>p_value</code> ranks the "
        "neuron's delta_pos among the random neurons' (smallest possible: 1 / (n_random + 1)), "
        "<code>p_specific</code> its delta_pos - delta_neg; <code>p_adjusted</code> and "
        "<code>p_specific_adjusted</code> correct them over the run's ablated neurons "
        "(Benjamini-Hochberg); loss is measured on the run's test documents only, never on the "
        "texts the neuron was chosen on; "
        "<code>significant</code> is false where it exceeds 0.05. A dedicated neuron has a large "
        f"delta_pos, a small delta_neg and a small p_value.</p>"
        f"{html.image(plot, 'ablation')}{html.table(table, 'ablation')}"
    )


def _sae_section(results: pd.DataFrame, cosines: pd.DataFrame | None) -> str:
    """Neurons and SAE latents of the same layer and feature, side by side (hook=sae runs)."""
    if "hook" not in results or not (results["hook"] == SAE_HOOK).any():
        return ""
    # the latents' label less its "#sae" part meets their neurons'; "@revision" stays, so two
    # checkpoints are never paired across (model_name would pool them)
    plain = results.assign(model=results["model"].str.split("#").str[0])
    table = side_by_side(plain, cosines)
    return (
        "<h2>Neurons and SAE latents</h2><p>Per model, feature and SAE layer: the best single "
        "neuron of the layer and the best single latent of the SAE, each chosen on validation "
        "at k=1 and scored on test, with the 95% interval, the permutation p-value (and "
        "<code>_p_adjusted</code>: Benjamini-Hochberg over the layer's features) and k90 "
        "(the smallest k reaching 90% of the best F1, neurons and latents each). "
        "<code>decoder_cosine</code>: the cosine between the latent's decoder direction (in "
        "the residual stream) and the best neuron's output weights: near 1, the latent is that "
        "neuron; near 0, a direction the neuron does not write.</p>"
        + html.table(table.round(3), "sae-latents")
    )


def _sparsity_section(table: pd.DataFrame, method: str, fraction: float, figures: Path) -> str:
    rows = table[table["method"] == method]
    plot = plots.sparsity_vs_scale(rows, figures / "sparsity_vs_scale.png")
    return (
        f"<h2>Sparsity across model scale</h2><p>Per feature, at the layer chosen on "
        f"validation (the highest validation F1 at any k), the smallest k whose test F1 reaches "
        f"{fraction:g} of the test F1 of the k validation chooses ({escape(method)}); "
        f"<code>max_f1</code> is that test F1 (the layer's best F1). Lower means fewer neurons carry "
        f"the feature.</p>"
        f"{html.image(plot, 'sparsity vs scale')}{html.table(table, 'sparsity')}"
    )


def _f1_vs_k_section(results: pd.DataFrame, models: list[str], figures: Path) -> str:
    parts = [
        "<h2>F1 versus k</h2><p>One line per layer and method (dashed: the random-rotation "
        "control; dotted, dash-dot: further methods).</p>"
    ]
    for model in tqdm(models, desc="F1 vs k plots", unit="model", disable=None):
        images = []
        for feature in sorted(results.loc[results["model"] == model, "feature"].unique()):
            path = plots.f1_vs_k(
                results, model, feature, figures / f"f1_vs_k_{_slug(model)}_{_slug(feature)}.png"
            )
            images.append(html.image(path, f"F1 vs k {model} {feature}"))
        parts.append(
            f"<details open><summary><b>{escape(model)}</b></summary>"
            f"<div class='grid'>{''.join(images)}</div></details>"
        )
    return "".join(parts)


def _neuron_pages(
    results: pd.DataFrame, best: pd.DataFrame, cache: Path, figures: Path, limit: int
) -> dict[str, NeuronPage]:
    """Pages for the best neurons, highest F1 first, at most `limit`; not for the rotation
    control, whose "neurons" are directions of a random basis, not units of the model."""
    pages: dict[str, NeuronPage] = {}
    real = best[~best["method"].astype(str).str.endswith("+rotated")]
    chosen = real.sort_values("f1_k1", ascending=False).head(limit).to_dict("records")
    for r in tqdm(chosen, desc="neuron pages", unit="page", disable=None):
        row = results[
            (results["model"] == r["model"])
            & (results["feature"] == r["feature"])
            & (results["method"] == r["method"])
            & (results["layer"] == r["layer"])
            & (results["k"] == 1)
        ].iloc[0]
        try:
            page = neuron_page(cache, row.to_dict())
        except Exception as err:  # one unreadable store must not cost the whole report
            log.warning("neuron page %s failed: %s", _anchor(r), err)
            page = NeuronPage(
                r["model"],
                r["feature"],
                r["collection"],
                int(r["layer"]),
                int(r["neuron"]),
                float(r["f1_k1"]),
                problem=f"could not read it: {err}",
            )
        page.model = r["model"]  # the label used in the tables ("name@revision" if several)
        pages[_anchor(r)] = page
    return pages


def _broad_html(info: dict) -> str:
    """A neuron's top activations over the broad corpus, grouped: dedicated or polysemantic."""
    tokens = ", ".join(
        f"<code>{escape(repr(t))}</code> &times;{escape(str(n))}" for t, n in info["by_token"][:8]
    )
    sources = ", ".join(f"{escape(s)} &times;{escape(str(n))}" for s, n in info["by_source"][:6])
    rows = "".join(
        f"<tr><td>{r['activation']:.2f}</td><td>{escape(r['source'])}</td><td><code>"
        f"{escape(r['context'])}<b>{escape(r['token'])}</b></code></td></tr>"
        for r in info["top"][:10]
    )
    # the counts too: neuron_contexts.json travels with a run folder, and is shown, never run
    tokens_n = escape(str(info["distinct_tokens"]))
    sources_n = escape(str(info["distinct_sources"]))
    return (
        f"<p>Over a broad corpus (every pinned source, probing.case_studies.polysemantic): its top "
        f"{len(info['top'])} activations fall on {tokens_n} distinct tokens (the "
        f"commonest {info['top_token_share']:.0%}) from {sources_n} sources. "
        f"Tokens: {tokens}. Sources: {sources}.</p><table><tr><th>activation</th><th>source</th>"
        f"<th>context, <b>token</b></th></tr>{rows}</table>"
    )


def _neuron_html(page: NeuronPage, figures: Path, broad: dict | None = None) -> str:
    anchor = _anchor({"model": page.model, "feature": page.feature, "neuron_id": page.neuron_id})
    head = (
        f'<div class="neuron" id="{anchor}"><h3>{escape(page.model)} {page.neuron_id} '
        f'&mdash; {escape(page.feature)}</h3><p class="muted">collection '
        f"{escape(page.collection)}, k=1 F1 {page.f1:.3f}</p>"
    )
    if page.problem or page.activations is None or page.labels is None:
        problem = page.problem or "no activations were read for this neuron"
        return f'{head}<p class="problem">{escape(problem)}</p></div>'
    hist = plots.activation_histogram(
        page.activations,
        page.labels,
        f"{page.model} {page.neuron_id}: {page.feature}",
        figures / f"hist_{anchor}.png",
    )
    how = (
        "the probed token is highlighted"
        if page.aggregation == "token"
        else f"sequence-level feature ({page.aggregation} over tokens): the sequence's start is shown"
    )
    ids = "" if page.decoded else " Tokens are shown as ids: the tokenizer could not be loaded."
    contexts = "".join(html.context(c) for c in page.contexts)
    which = (
        "Top-activating examples"
        if page.sign > 0
        else "Lowest-activating examples (this neuron is lower on the feature than off it)"
    )
    wide = _broad_html(broad[page.neuron_id]) if broad and page.neuron_id in broad else ""
    return (
        f"{head}{html.image(hist, 'activation histogram')}<p>{which} "
        f"({how}; red bar = label 1).{ids}</p>{contexts}{wide}</div>"
    )


def _anchor(row: dict) -> str:
    return _slug(f"neuron-{row['model']}-{row['feature']}-{row['neuron_id']}")


def _slug(text: str) -> str:
    """A file-name- and anchor-safe name: the text itself where it is safe and short, else a
    readable prefix plus a hash of the whole, so `a/b` and `a b` never share a page or a file
    and a 300-character feature name never exceeds a file system's name limit."""
    text = str(text)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    if safe == text and len(text) <= 120:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{safe[:80]}-{digest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "run_dirs", nargs="*", help="run or multirun directories (or results.jsonl files)"
    )
    parser.add_argument(
        "-o", "--output", default="report.html", help="report file (default report.html)"
    )
    parser.add_argument(
        "--wandb", metavar="ENTITY/PROJECT", help="also read runs from W&B (online)"
    )
    parser.add_argument(
        "--cache", help="PROBING_CACHE the runs used (default: $PROBING_CACHE or .cache/probing)"
    )
    parser.add_argument(
        "--fraction", type=float, default=0.9, help="sparsity: fraction of max F1 (default 0.9)"
    )
    parser.add_argument(
        "--neuron-pages", type=int, default=60, help="at most this many neuron pages"
    )
    args = parser.parse_args(argv)
    if not args.run_dirs and not args.wandb:
        parser.error("give at least one RUN_DIR or --wandb ENTITY/PROJECT")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    problem = _argument_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        results = _load(args.run_dirs, args.wandb)
        ablations = find_ablations(args.run_dirs)
        broad = find_neuron_contexts(args.run_dirs)
        cosines = _load_sae_cosines(args.run_dirs)
        out = build_report(
            results,
            args.output,
            args.cache,
            args.fraction,
            args.neuron_pages,
            sources=[*args.run_dirs, *([f"wandb:{args.wandb}"] if args.wandb else [])],
            ablations=ablations,
            broad=broad,
            sae_cosines=cosines,
        )
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {out}  ({len(results)} rows; figures in {out.with_name(out.stem + '_files')})")
    return 0


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the numbers or the output asked for, before any work (None: nothing)."""
    if not 0 < args.fraction <= 1:  # NaN too: no k would reach it, every k90 the largest k
        return f"--fraction {args.fraction} must be in (0, 1]"
    if Path(args.output).is_dir():
        return f"-o {args.output} is a folder: name the report's file (in it, or beside it)"
    if Path(args.output).suffix.lower() not in (".html", ".htm"):  # -o RUN/results.jsonl: lost
        return f"-o {args.output} must name an .html file (the report replaces what is there)"
    return below_least(args, {"neuron_pages": 0})


def _load_sae_cosines(run_dirs: list[str]) -> pd.DataFrame:
    """The decoder cosines (probing.sae.compare) every hook=sae run under the directories wrote."""
    found = sorted({p for d in run_dirs if Path(d).is_dir() for p in Path(d).rglob(COSINE_FILE)})
    return pd.DataFrame([row for path in found for row in good_objects(path, what="cosine line")])


def _load(run_dirs: list[str], project: str | None) -> pd.DataFrame:
    from analysis.aggregate import finalize

    frames = [load_results(*run_dirs)] if run_dirs else []
    if project:
        from analysis.wandb_source import load_wandb_results

        frames.append(load_wandb_results(project))
    if len(frames) == 1:
        return frames[0]
    duplicates = sum(f.attrs.get("duplicates", 0) for f in frames)
    merged = finalize(pd.concat(frames, ignore_index=True))
    merged.attrs["duplicates"] += duplicates
    return merged


if __name__ == "__main__":
    sys.exit(main())
