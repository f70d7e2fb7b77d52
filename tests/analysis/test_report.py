"""The report: one HTML file with the tables, embedded plots and neuron pages; the CLI."""

from __future__ import annotations

import re

from analysis.aggregate import load_results
from analysis.report import build_report, main
from tests.analysis.conftest import row, write_results


def test_report_has_tables_plots_and_neuron_pages(report_run, tmp_path):
    run_dir, cache = report_run
    out = build_report(load_results(run_dir), tmp_path / "out" / "report.html", cache=cache)

    text = out.read_text()
    for table_id in ("best-neurons", "sparsity", "top-neurons", "dynamics"):
        assert f'<table class="sortable" id="{table_id}">' in text
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    # k=1 intervals + heatmap + sparsity + F1 vs k (tiny: python; pythia-70m: python, c)
    # + 1 histogram
    assert len(images) == 7
    assert all(len(i) > 5_000 for i in images)
    pngs = sorted(p.name for p in (tmp_path / "out" / "report_files").glob("*.png"))
    assert len(pngs) == 7 and {"heatmap_k1.png", "k1_intervals.png"} <= set(pngs)
    # tiny-pythia's neuron has a page with contexts; pythia-70m's store is missing
    assert 'id="neuron-tiny-pythia-python-L1N2"' in text
    assert 'href="#neuron-tiny-pythia-python-L1N2"' in text
    assert text.count('class="ctx') == 8
    assert "no complete activation store for pythia-70m" in text
    assert "http://" not in text and "https://" not in text  # no CDN, nothing fetched
    assert "<script src" not in text


def test_cli_writes_the_report(report_run, tmp_path, capsys):
    run_dir, cache = report_run
    out = tmp_path / "r.html"
    assert main([str(run_dir), "-o", str(out), "--cache", str(cache), "--neuron-pages", "1"]) == 0
    assert out.stat().st_size > 30_000
    assert "report:" in capsys.readouterr().out
    assert out.read_text().count('class="neuron"') == 1


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "r.html")]) == 2
    assert "missing" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "-o", str(tmp_path / "r.html")]) == 2
    assert "no result rows" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_the_rotation_control_gets_no_neuron_page(report_run, tmp_path):
    run_dir, cache = report_run
    rotated = dict(method="mean_diff+rotated", n_train=10, n_test=2)
    write_results(
        run_dir / "2_rotated",
        [
            row("tiny-pythia", "python", 1, k, 0.95, [3] if k == 1 else [0, 1], **rotated)
            for k in (1, 2)
        ],
    )
    text = build_report(load_results(run_dir), tmp_path / "r.html", cache=cache).read_text()
    assert "<td>mean_diff+rotated</td>" in text  # it is in the tables
    assert 'id="neuron-tiny-pythia-python-L1N3"' not in text
    assert 'id="neuron-tiny-pythia-python-L1N2"' in text


def test_the_header_names_the_code_and_warns_when_it_mixes_versions(tmp_path):
    libraries = {"torch": "2.13.0", "numpy": "2.4.6"}
    stamp = {"libraries": libraries, "device": "cpu (test CPU)", "seed": 0}
    old = [row(layer=la, f1=0.5, code_version="0.1.0+gaaaa", **stamp) for la in (0, 1)]
    new = [row(layer=la, f1=0.6, code_version="0.1.0+gbbbb", **stamp) for la in (2, 3)]
    write_results(tmp_path / "one", old)
    out = build_report(load_results(tmp_path / "one"), tmp_path / "one.html", neuron_pages=0)
    text = out.read_text()
    assert "0.1.0+gaaaa (2 rows)" in text and "torch 2.13.0" in text
    assert "cpu (test CPU)" in text and "Warning" not in text
    write_results(tmp_path / "two", old + new)
    text = build_report(
        load_results(tmp_path / "two"), tmp_path / "two.html", neuron_pages=0
    ).read_text()
    assert "Warning:</strong> these rows come from 2 code versions" in text


def test_feature_names_the_run_accepted_never_crash_the_report(tmp_path):
    """Mathtext dollars, a 300-character name, and two names that differ only in a character a
    file name cannot hold: the report draws them all, each on its own page and file."""
    from analysis.report import _slug

    names = ["cost $x^$ y", "n" * 300, "a/b", "a b"]
    rows = [row(feature=name, layer=la, f1=0.5 + 0.1 * la, support=[la]) for name in names
            for la in (0, 1)]  # fmt: skip
    write_results(tmp_path / "run", rows)
    out = build_report(load_results(tmp_path / "run"), tmp_path / "r.html", neuron_pages=8)
    text = out.read_text()
    assert "cost $x^$ y" in text
    slugs = {_slug(name) for name in names}
    assert len(slugs) == 4 and all(len(s) < 120 for s in slugs)
    files = [p.name for p in (tmp_path / "r_files").glob("f1_vs_k_*.png")]
    assert len(files) == 4


def test_a_damaged_case_study_file_costs_its_rows_not_the_report(report_run, tmp_path, caplog):
    """A half-written ablation.jsonl or sae_cosines.jsonl (a killed job), a neuron_contexts.json
    that is not what polysemantic writes: each is skipped with a warning naming it, and the
    report is written from everything else."""
    run_dir, cache = report_run
    (run_dir / "ablation.jsonl").write_text(
        '{"model": "x"}\n{"model": "tiny-pythia", "feature": "py'
    )
    (run_dir / "sae_cosines.jsonl").write_text('{"model": "tiny-pythia"}\n{"feat')
    (run_dir / "neuron_contexts.json").write_text('{"neurons": {}}')
    (run_dir / "1_other").mkdir()
    (run_dir / "1_other" / "neuron_contexts.json").write_text('{"model": "tiny-py')
    (run_dir / "2_other").mkdir()  # the page of L1N2 is drawn: an entry without its fields
    partial = '{"model": "tiny-pythia", "neurons": {"L1N2": {"top": []}}}'
    (run_dir / "2_other" / "neuron_contexts.json").write_text(partial)
    out = tmp_path / "r.html"
    assert main([str(run_dir), "-o", str(out), "--cache", str(cache), "--neuron-pages", "2"]) == 0
    for damaged in ("ablation.jsonl:1", "ablation.jsonl:2", "sae_cosines.jsonl:2",
                    "neuron_contexts.json"):  # fmt: skip
        assert damaged in caplog.text
    assert str(run_dir / "1_other" / "neuron_contexts.json") in caplog.text
    assert "skipping L1N2: it lacks some of" in caplog.text
    assert "Ablation of the best single neurons" not in out.read_text()


def test_what_a_case_study_file_says_is_escaped_in_the_html(report_run, tmp_path):
    """neuron_contexts.json travels with a run folder: whatever it holds (an edited or foreign
    file) is shown as text, never run as HTML or script."""
    run_dir, cache = report_run
    evil = "<script>alert(1)</script>"
    info = {
        "top": [{"activation": 1.5, "source": evil, "context": evil, "token": evil}],
        "by_token": [[evil, evil]],
        "by_source": [[evil, evil]],
        "distinct_tokens": evil,
        "top_token_share": 0.5,
        "distinct_sources": '"><img src=x onerror=alert(2)>',
    }
    broad = {"tiny-pythia": {"L1N2": info}}
    out = build_report(load_results(run_dir), tmp_path / "r.html", cache=cache, broad=broad)
    text = out.read_text()
    assert "Over a broad corpus" in text
    assert text.count("<script>") == 1 and "<img src=x" not in text  # the page's own script


def test_neurons_beside_latents_keep_two_revisions_apart(tmp_path):
    """hook=sae runs of two checkpoints: each row pairs a revision's latent with that same
    revision's neuron, never the other checkpoint's (the report labels them name@revision)."""
    rows = []
    for revision, neuron, latent, f1 in (("step1", 5, 3, 0.9), ("step2", 6, 4, 0.3)):
        for hook, unit in (("mlp_post", neuron), ("sae", latent)):
            extra = {"hook": hook, "revision": revision, "val_f1": f1}
            if hook == "sae":
                extra["sae"] = f"standard-64@blocks.1.mlp.hook_post-{revision}"
            rows += [row("pythia-70m", "python", 1, k, f1, [unit] if k == 1 else [0, 1], **extra)
                     for k in (1, 2)]  # fmt: skip
    write_results(tmp_path / "run", rows)
    text = build_report(load_results(tmp_path / "run"), tmp_path / "r.html", neuron_pages=0)
    section = text.read_text().split('id="sae-latents"')[1].split("</table>")[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", section)
    pairs = {(cells[i], cells[i + 3], cells[i + 10]) for i in range(0, len(cells), 19)}
    assert pairs == {("pythia-70m@step1", "5", "3"), ("pythia-70m@step2", "6", "4")}


def test_a_neuron_context_of_the_wrong_types_is_skipped_not_drawn(tmp_path, caplog):
    """An edited neuron_contexts.json whose values are not what polysemantic writes ("top": 5, a
    count that is text) loses that neuron, with a warning; before, the report's formatting
    raised once its page was drawn."""
    import json

    from probing.case_study_outputs import find_neuron_contexts

    good = {"top": [{"activation": 1.5, "source": "django", "context": "def", "token": " f"}],
            "by_token": [[" f", 1]], "by_source": [["django", 1]], "distinct_tokens": 1,
            "top_token_share": 1.0, "distinct_sources": 1}  # fmt: skip
    neurons = {"L0N1": good, "L0N2": {**good, "top": 5},
               "L0N3": {**good, "top": [{**good["top"][0], "activation": "high"}]},
               "L0N4": {**good, "by_token": [[" f", "<b>1</b>"]]},
               "L0N5": {**good, "top_token_share": "all"}}  # fmt: skip
    path = tmp_path / "neuron_contexts.json"
    path.write_text(json.dumps({"model": "tiny-pythia", "neurons": neurons}))
    found = find_neuron_contexts([str(tmp_path)])
    assert list(found["tiny-pythia"]) == ["L0N1"]
    for name in ("L0N2", "L0N3", "L0N4", "L0N5"):
        assert f"skipping {name}: " in caplog.text


def test_the_sections_say_their_neurons_and_layers_are_chosen_on_validation(tmp_path):
    """Top neurons are ordered, and the sparsity layer chosen, on validation F1: a section that
    says "highest F1" of a table whose first row is not the highest test F1 misreads it."""
    rows = [
        row(layer=0, k=1, f1=0.9, val_f1=0.6, support=[4]),  # best on test, not on validation
        row(layer=1, k=1, f1=0.7, val_f1=0.8, support=[5]),
        row(layer=0, k=2, f1=0.95, val_f1=0.6),
        row(layer=1, k=2, f1=0.75, val_f1=0.85),
    ]
    write_results(tmp_path / "run", rows)
    text = build_report(load_results(tmp_path / "run"), tmp_path / "r.html", neuron_pages=0)
    text = text.read_text()
    top = text.split("<h2>Top neurons</h2>")[1].split("</p>")[0]
    sparsity = text.split("<h2>Sparsity across model scale</h2>")[1].split("</p>")[0]
    first_top = text.split('id="top-neurons"')[1].split("<td>L")[1][:4]
    assert first_top == "1N5<"  # the validation order
    assert "validation" in top and "highest-F1" not in top
    assert "validation" in sparsity and "layer with the highest F1" not in sparsity
