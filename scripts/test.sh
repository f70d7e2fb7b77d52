#!/usr/bin/env bash
# Set up (idempotent) and run every test, slow and slurm ones included. Extra args go to pytest,
# e.g. `bash scripts/test.sh -m "not slow and not slurm"` for the fast suite only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PROBING_CACHE=${PROBING_CACHE:-$PWD/.cache/probing-test}
if [ $# -eq 0 ]; then
  set -- -m "slow or slurm or not slow"
fi
exec .venv/bin/python -m pytest "$@"
