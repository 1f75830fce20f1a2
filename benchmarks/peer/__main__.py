"""`python -m benchmarks.peer [--quick]`: see the package docstring."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.peer import __doc__ as package_doc
from benchmarks.peer.race import Options, race
from benchmarks.peer.venv import default_location


class _Preset(NamedTuple):
    devices: int
    points: int
    window: float
    warmup: float
    startup_timeout: float


_FULL = _Preset(devices=20, points=500, window=60.0, warmup=10.0, startup_timeout=45.0)
# Under a minute of wall time with the peer installed: about 32 s.
_QUICK = _Preset(devices=10, points=250, window=25.0, warmup=3.0, startup_timeout=15.0)


def _options() -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peer", description=(package_doc or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{_QUICK.devices} panels x {_QUICK.points} points, {_QUICK.window:g} s window",
    )
    parser.add_argument("--devices", type=int, help=f"simulated panels ({_FULL.devices})")
    parser.add_argument("--points", type=int, help=f"detector points per panel ({_FULL.points})")
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, s (1)")
    parser.add_argument("--seconds", type=float, help=f"measured window, s ({_FULL.window:g})")
    parser.add_argument(
        "--warmup", type=float, help=f"once every device delivers, s ({_FULL.warmup:g})"
    )
    parser.add_argument(
        "--silence-at",
        type=float,
        default=0.6,
        help="share of the window after which the last panel goes silent (0.6)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        help=f"for both gateways to deliver from every panel, s ({_FULL.startup_timeout:g})",
    )
    parser.add_argument(
        "--peer-venv", type=Path, help=f"the peer's virtualenv ({default_location()})"
    )
    args = parser.parse_args()
    if not 0 < args.silence_at < 1:
        parser.error("--silence-at must be between 0 and 1")
    preset = _QUICK if args.quick else _FULL
    return Options(
        devices=args.devices or preset.devices,
        points=args.points or preset.points,
        poll=args.poll,
        window=args.seconds or preset.window,
        warmup=preset.warmup if args.warmup is None else args.warmup,
        silence_at=args.silence_at,
        startup_timeout=args.startup_timeout or preset.startup_timeout,
        peer_venv=args.peer_venv or default_location(),
        mode="quick" if args.quick else "full",
    )


async def _race(options: Options) -> list[dict[str, Any]]:
    # SIGTERM unwinds like Ctrl-C does, so the gateways and the broker are stopped too.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await race(options)


def main() -> None:
    options = _options()
    try:
        lines = asyncio.run(_race(options))
    except RuntimeError as exc:
        print(f"peer benchmark failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("peer benchmark stopped", file=sys.stderr)
        raise SystemExit(130) from None
    for line in lines:
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
