#!/usr/bin/env bash
# The test command, for people and CI alike: set up, make sure the real servers the tests start
# are installed (Mosquitto, socat, ...), then lint, type-check and run the whole suite.
# Arguments go to pytest (e.g. scripts/test.sh -k gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# The real servers the tests start on free loopback ports (no system service is used):
# Mosquitto, InfluxDB 1.x and VictoriaMetrics, from Debian packages; Chromium for the console.
missing=()
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
command -v influxd >/dev/null || missing+=(influxdb)
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
# socat joins two pseudo-terminals into a serial line for the Modbus RTU tests.
command -v socat >/dev/null || missing+=(socat)
# libfaketime steps the services' wall clock in the fault-injection campaign (benchmarks/chaos).
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1 ] || missing+=(faketime)
# Headless browser for the operator console's test (driven by Playwright, never downloaded).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# A CJK font, so the Chinese console screenshots show characters rather than empty boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test: installing from Debian packages: ${missing[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "test: ruff" >&2
.venv/bin/ruff check .
echo "test: mypy" >&2
.venv/bin/mypy
echo "test: pytest" >&2
exec .venv/bin/pytest "$@"
