#!/usr/bin/env bash
# Create/reuse .venv at the repo root and install lamm (CPU torch pinned) plus what scoring and the hf: test
# matrix need (extras dev, hf).
# Sourced by scripts/quickstart.sh and scripts/test.sh; safe to run again (it only reinstalls on change).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# WordNet 3.0 for the official label matcher: Debian/Ubuntu package wordnet-base (or bring your own NLTK_DATA).
if [ ! -f /usr/share/wordnet/data.noun ] && [ -z "${NLTK_DATA:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[bootstrap] installing wordnet-base (WordNet 3.0) with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null
  else
    echo "[bootstrap] warning: WordNet 3.0 not found; run 'sudo apt-get install wordnet-base' or set NLTK_DATA" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.lamm-installed
want=$(cat pyproject.toml constraints-cpu.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing lamm into .venv (CPU torch pinned by constraints-cpu.txt)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints-cpu.txt -e '.[dev,hf]'
  echo "$want" > "$stamp"
fi
