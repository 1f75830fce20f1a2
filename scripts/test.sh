#!/usr/bin/env bash
# The test command, for people and CI alike: set up, make sure the real servers the tests start
# are installed (Mosquitto), then lint, type-check and run the whole suite.
# Arguments go to pytest (e.g. scripts/test.sh -k gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  echo "test: installing mosquitto from Debian packages" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq mosquitto >/dev/null
fi
# The tests start their own Mosquitto on a free loopback port; a system service is not needed.

echo "test: ruff" >&2
.venv/bin/ruff check .
echo "test: mypy" >&2
.venv/bin/mypy
echo "test: pytest" >&2
exec .venv/bin/pytest "$@"
