#!/usr/bin/env bash
# Whole test suite: install (if needed), lint with ruff, run pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
# DeepSpeed for the ZeRO test, CPU build: no compiled ops, built against the torch already installed
# (build isolation would pull a CUDA torch into the build environment).
if ! .venv/bin/python -c "import deepspeed" >/dev/null 2>&1; then
  echo "[test] installing DeepSpeed (CPU, no compiled ops)"
  DS_BUILD_OPS=0 .venv/bin/python -m pip install -q --no-build-isolation -c constraints-cpu.txt 'deepspeed>=0.14' \
    || echo "[test] warning: DeepSpeed could not be installed; its test will be skipped" >&2
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
