"""Peer benchmark: fireroom's gateway against the ThingsBoard IoT Gateway, in one run.

    python -m benchmarks.peer --quick     # 10 panels x 250 points, 25 s window: about 32 s
    python -m benchmarks.peer             # 20 panels x 500 points, 60 s window: about 80 s

Both gateways run as their own processes, side by side, against the same simulated
gbt26875-panel devices (this repo's simulators, served from this process), the same Mosquitto on
127.0.0.1, the same poll interval (1 s) and timeout (1 s); this process also counts, on the
broker, the values each one delivers. Per gateway it prints one JSON line: values delivered per
second over the window after a warm-up, CPU seconds per million values (utime + stime from /proc
of the process, its reaped children and its live descendants), peak RSS (VmHWM), and how long
after one panel stops answering (`DeviceServer.silence()`, 60 % into the window) the gateway
tells the broker so. The last line compares them (fireroom's figure over the peer's) and gives
the sizes and the machine. Progress goes to stderr.

TB spends about 0.06 of a core when idle (its threads poll queues every few milliseconds), so
its CPU per value, and the ratio, depend on the load: the quick run's ratio is larger than the
full run's. Detection times depend on where the silence falls in the poll cycle (next poll, then
the 1 s timeout): one sample each, between 1 and 2 s for both.

The peer is `thingsboard-gateway` 3.8.5 from PyPI, installed with pymodbus 3.9.2 (the version
its Modbus connector would otherwise pip-install at start), pyserial and pyserial-asyncio into
its own virtualenv, `~/.cache/fireroom/peer-venv` by default (`--peer-venv`), reused on later
runs; the first install takes about 15 s. Its config is generated per run (`thingsboard.py`):
one TB device per panel, every point's registers as timeseries keys of the same type, runs of
one-register points as TB "wide range" reads split at the device's `max_registers` like
fireroom's planner (one request per scan more than fireroom: TB cannot read the u16 header
words and the u32 event counter in one request); no retries (fireroom gives up a scan at its first
timeout); report strategy ON_RECEIVED, every polled value on every poll, as fireroom sends with
`report: {by_exception: false}`; QoS 0 as fireroom's telemetry; statistics, remote
configuration and remote shell off.

What it took to run the peer against plain Mosquitto:

- TB connects with an access token as MQTT username; the Mosquitto of `tests/servers.py`
  allows anonymous clients, so any token does.
- After connecting, TB asks the server for its session limits (RPC `getSessionLimits` on
  `v1/devices/me/rpc/request/<id>`) and sends no telemetry until it is answered. The
  benchmark's listener answers as ThingsBoard would: no rate limits, a 1 MiB payload limit.
- TB reads `host`, `port`, `username`, `accessToken` and more from the environment over its
  config file, so it runs with a minimal environment. It also posts to updates.thingsboard.io
  at start; an HTTP(S) proxy on a closed loopback port makes that fail at once, on the machine.
- pymodbus 3.9.2 logs a three-line deprecation warning each time TB decodes a register value;
  TB's `logs.json` here keeps pymodbus' logger at ERROR and up, so that printing does not count
  against the peer.

What the peer reports for a silent device: when a read times out it publishes
`{"device": name}` on `v1/gateway/disconnect`. The simulated device still accepts TCP
connections, so at the next poll TB connects again, publishes `v1/gateway/connect`, and
disconnects once more when that read times out: it flaps every poll. fireroom publishes the
retained state "offline" on `fireroom/v1/<site>/status/<device>` once, and a scan of
`comm_lost` readings without values at each reconnect attempt (counted apart, as
`readings_without_value`).
"""
