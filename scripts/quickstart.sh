#!/usr/bin/env bash
# Main job: install (if needed) and run the LAMM-Mini quickstart. Extra arguments go to `lamm quickstart`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
exec .venv/bin/lamm quickstart "$@"
