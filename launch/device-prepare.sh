#!/usr/bin/env bash
# Prepare this checkout for launch/device-check.sh on a lent GPU machine that reaches no network.
#
# Run here, where pip reaches PyPI: pydantic is the one dependency of `wrnsearch train` and
# `wrnsearch bench train` that the GPU image lacks (torch, torchvision, click, pyyaml, rich and
# numpy are there), so its wheels for the image's Python 3.12 go into .whl/; the CIFAR-10 copy
# goes into .data/. Both folders are git-ignored and travel with the call's `carry`.
#   bash launch/device-prepare.sh [PATH/TO/cifar10-jpeg.tar.gz]
set -euo pipefail
cd "$(dirname "$0")/.."
archive=${1:-../shared/data/cifar10-jpeg.tar.gz}
[ -f "$archive" ] || { echo "device-prepare: $archive not found: pass the CIFAR-10 archive's path" >&2; exit 2; }
mkdir -p .data .whl
cp -f "$archive" .data/
# the versions installed here, so that pydantic and pydantic-core match each other
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
mapfile -t pins < <("$PY" - <<'PYEOF'
from importlib.metadata import version
for name in ("pydantic", "pydantic-core", "annotated-types", "typing-inspection"):
    print(f"{name}=={version(name)}")
PYEOF
)
rm -f .whl/*.whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${pins[@]}"
ls -l .whl .data
echo "ready: carry [\".whl\", \".data\"] with: bash launch/device-check.sh bench  (then: ... paper)"
