#!/usr/bin/env bash
# Quick start: set up, then run the whole simulated site in one process.
# Arguments go to `fireroom demo` (try --scenario fire-alarm --duration 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/fireroom demo "$@"
