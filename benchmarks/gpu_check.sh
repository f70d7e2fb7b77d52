#!/usr/bin/env bash
# The GPU figures of issue #12, in one call on a GPU node (under 5 minutes on an H100):
#   1. extraction vs the HF forward through the last layer, Pythia-shaped models (410m, 1.4b), bf16
#   2. a whole job end to end on CUDA: the 410m shape, programming_language, all 24 layers
#   3. a layer's k sweep (N=8000, d=8192) on CUDA vs scikit-learn's saga per k
#   4. the k sweep vs TransformerLens's sweep_sparse_probe (N=4000, d=4096)
# Prepare here first: bash benchmarks/gpu_prepare.sh; then run it on the device with
# carry [".whl", ".gpu_cache"]. Everything it prints also lands in $OUT/gpu_check.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.txt"
: >"$LOG"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 PROBING_CACHE=$PWD/.gpu_cache
PY=${PY:-python3}
step() { echo -e "\n## $*" | tee -a "$LOG"; }
run() { timeout "$1" "${@:2}" 2>&1 | grep -v "it/s\]" | tee -a "$LOG"; }

step "device"
run 60 "$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA: CPU figures')"

SHAPE_410M='+model.config={hidden_size:1024,num_hidden_layers:24,num_attention_heads:16,intermediate_size:4096,max_position_embeddings:2048}'
SHAPE_1B4='+model.config={hidden_size:2048,num_hidden_layers:24,num_attention_heads:16,intermediate_size:8192,max_position_embeddings:2048}'
SEQS=${SEQS:-2048}
for shape in "pythia-410m $SHAPE_410M" "pythia-1.4b $SHAPE_1B4"; do
    set -- $shape
    step "extraction vs the HF forward: $1 shape, bf16, $SEQS x 128 tokens"
    run 150 "$PY" -m benchmarks.extraction_overhead "model=$1" model.source=random_gpt_neox "$2" \
        model.dtype=bfloat16 --sequences "$SEQS" --bridge
done

step "a whole job: pythia-410m shape, programming_language, all 24 layers"
run 240 "$PY" -m probing.run model=pythia-410m model.source=random_gpt_neox "$SHAPE_410M" \
    model.dtype=bfloat16 feature=programming_language logger=none progress=false \
    hydra.run.dir="$OUT/job"

step "a layer's k sweep, N=8000, d=8192: ours (auto) vs saga per k"
run 150 "$PY" -m benchmarks.probe_sweep --backend auto

step "the k sweep vs TransformerLens sweep_sparse_probe, N=4000, d=4096"
run 150 "$PY" -m benchmarks.vs_transformer_lens

step "summary"
grep -E "^(ratio|headline|results:)" "$LOG" | tee "$OUT/summary.txt"
# the harness's records (benchmarks/records/*.json) come back with $OUT: commit them here and
# `python -m benchmarks.table` puts the GPU rows into the README
mkdir -p "$OUT/records" && cp benchmarks/records/*.json "$OUT/records/" 2>/dev/null || true
