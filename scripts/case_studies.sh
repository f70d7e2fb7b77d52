#!/usr/bin/env bash
# The case studies on the two offline models, at a size two CPU cores finish in about 80 minutes:
# SmolLM2-135M and Gemma-3-270m x every feature collection x every layer, each collection
# shrunk to 100-300 windows (the full sizes are `python -m probing.run -m experiment=offline_sweep`,
# hours on a laptop). Then the superposition-by-depth tables (with the weight statistics) and the
# report over all of it.
#   bash scripts/case_studies.sh [OUT]        (OUT default: outputs/case_studies)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-outputs/case_studies}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
declare -A SIZE=(
    [programming_language]="feature.params.n_per_class=60"
    [text_source]="feature.params.n_per_class=60"
    [natural_language]="feature.params.n_per_class=20"
    [compound_words]="feature.params.n_sequences=200"
    [part_of_speech]="feature.params.n_sequences=100"
    [dependency]="feature.params.n_sequences=100"
    [morphology]="feature.params.n_sequences=100"
    [surface_text]="feature.params.n_sequences=100"
    [token_position]="feature.params.n_sequences=100"
    [people]="feature.params.max_people=150"
)
for model in ${MODELS:-smollm2-135m gemma3-270m}; do
    for feature in ${FEATURES:-${!SIZE[@]}}; do
        run="$OUT/${model}_${feature}"
        [ -s "$run/results.jsonl" ] && [ -e "$run/.done" ] && continue
        echo "== $model $feature (${SIZE[$feature]})"
        "$PY" -m probing.run "model=$model" "feature=$feature" ${SIZE[$feature]} layer=all \
            logger=none progress=false "hydra.run.dir=$run" 2>&1 | grep -vE "it/s\]|^\s*$" | tail -12
        touch "$run/.done"
    done
done
"$PY" -m analysis.superposition "$OUT" --weights -o "$OUT/superposition"
"$PY" -m analysis.report "$OUT" -o "$OUT/report.html"
