#!/usr/bin/env bash
# The paper's scale sweep in one command (conf/experiment/paper_sweep.yaml): 7 Pythia models x
# every layer x every feature collection, one SLURM job array. Prints the bill first; submits only
# with --yes. Extra arguments are Hydra overrides for both, e.g. hydra.launcher.partition=gpu.
#   bash launch/sweep.sh                  # the estimate: jobs, GPU-hours, activation disk
#   bash launch/sweep.sh --yes            # submit, from a login node inside tmux: the launcher
#                                         # waits for every job
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
submit=0
args=()
for a in "$@"; do
  if [ "$a" = --yes ]; then submit=1; else args+=("$a"); fi
done
"$PY" -m launch.estimate experiment=paper_sweep "${args[@]}"
if [ "$submit" = 0 ]; then
  echo "Nothing submitted. Rerun with --yes to submit these jobs."
  exit 0
fi
exec "$PY" -m probing.run -m experiment=paper_sweep "${args[@]}"
