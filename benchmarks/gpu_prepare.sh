#!/usr/bin/env bash
# Run HERE (PyPI reachable, the project's venv set up) before a GPU call: puts into ignored
# folders what benchmarks/gpu_check.sh needs on a bare torch GPU image that reaches nothing:
#   .whl/        cp312 manylinux wheels of the packages that image lacks, at this venv's versions
#   .gpu_cache/  the feature dataset the whole-job check probes (byte-level tokenizer, as the
#                random Pythia-shaped models use), so the GPU node needs no pinned sources
# Then: device run with carry [".whl", ".gpu_cache"] and command `bash benchmarks/gpu_check.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
for folder in /.whl/ /.gpu_cache/; do
    grep -qxF "$folder" .git/info/exclude || echo "$folder" >>.git/info/exclude
done

# What the image lacks (the device README's list, plus transformer-lens's own small needs).
names=(hydra-core omegaconf zarr numcodecs donfig google-crc32c transformer-lens datasets dill
    multiprocess huggingface-hub httpx2 httpcore2 truststore sniffio beartype fancy-einsum
    typeguard)
mapfile -t pins < <("$PY" - "${names[@]}" <<'PYEOF'
import sys
from importlib.metadata import version
for name in sys.argv[1:]:
    print(f"{name}=={version(name)}")
PYEOF
)
rm -rf .whl && mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "${pins[@]}"
# antlr4 4.9.3 (hydra's parser) is an sdist only: build its pure-Python wheel here
"$PY" -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==$("$PY" -c \
    'from importlib.metadata import version; print(version("antlr4-python3-runtime"))')"

# The whole-job check's feature dataset, built by a tiny run with the same tokenizer.
rm -rf .gpu_cache
PROBING_CACHE=.gpu_cache "$PY" -m probing.run model=tiny-pythia feature=programming_language \
    layer=list 'layer.layers=[0]' 'probe.ks=[1]' logger=none progress=false \
    hydra.run.dir=.gpu_cache/run >/dev/null
rm -rf .gpu_cache/activations .gpu_cache/run
du -sh .whl .gpu_cache
