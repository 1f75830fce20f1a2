"""The `fireroom` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from fireroom.config import Site, load_site
from fireroom.errors import ConfigError

__all__ = ["main"]

EXAMPLE_SITE = Path(__file__).resolve().parent.parent / "examples" / "site.yaml"
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fireroom", description="Fire control room service: gateway, rules, incidents."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check-config", help="validate a site config and summarize it")
    check.add_argument("file", type=Path)

    demo = commands.add_parser(
        "demo", help="run a whole simulated site in one process on embedded defaults"
    )
    demo.add_argument("--config", type=Path, default=EXAMPLE_SITE,
                      help="site config (default: the shipped example site)")
    demo.add_argument("--scenario", help="scenario to play (see `fireroom scenarios`)")
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--json", action="store_true", help="print the incidents as JSON")
    demo.add_argument("--data-dir", type=Path, help="where the SQLite files live")
    demo.add_argument("--api-port", type=int, default=8000)
    demo.add_argument("--mqtt-port", type=int, default=18830,
                      help="port of the embedded MQTT broker (127.0.0.1)")

    gateway = commands.add_parser("gateway", help="poll the site's devices, publish telemetry")
    gateway.add_argument("--config", type=Path, required=True)

    rules = commands.add_parser("rules", help="evaluate telemetry, raise and clear incidents")
    rules.add_argument("--config", type=Path, required=True)
    rules.add_argument("--data-dir", type=Path)

    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--config", type=Path, help="site config (for its data directory)")
    api.add_argument("--data-dir", type=Path)
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    simulate = commands.add_parser("simulate", help="run the site's devices as simulators")
    simulate.add_argument("--config", type=Path, required=True)
    simulate.add_argument("--scenario")
    simulate.add_argument("--duration", type=float)

    commands.add_parser("scenarios", help="list the shipped scenarios")
    return parser


def _load(path: Path) -> Site:
    return load_site(path)


def _data_dir(site: Site | None, given: Path | None) -> Path:
    if given is not None:
        return given
    if site is not None:
        configured = Path(site.config.data_dir)
        if not configured.is_absolute():
            configured = Path(site.source).resolve().parent / configured
        return configured
    return Path("data")


def _check_config(path: Path) -> int:
    from fireroom.summary import summarize

    site = _load(path)
    print(summarize(site))
    print("config OK")
    return 0


def _run(args: argparse.Namespace) -> int:
    from fireroom import runners

    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "scenarios":
        return runners.list_scenarios()
    if args.command == "demo":
        site = _load(args.config)
        data_dir = args.data_dir or Path("data") / "demo"
        return asyncio.run(
            runners.demo(
                site,
                scenario=args.scenario,
                duration=args.duration,
                as_json=args.json,
                data_dir=data_dir,
                api_port=args.api_port,
                mqtt_port=args.mqtt_port,
            )
        )
    if args.command == "gateway":
        return asyncio.run(runners.gateway(_load(args.config)))
    if args.command == "rules":
        site = _load(args.config)
        return asyncio.run(runners.rules(site, _data_dir(site, args.data_dir)))
    if args.command == "api":
        api_site = _load(args.config) if args.config else None
        data_dir = _data_dir(api_site, args.data_dir)
        return asyncio.run(runners.api(api_site, data_dir, args.host, args.port))
    if args.command == "simulate":
        return asyncio.run(
            runners.simulate(_load(args.config), scenario=args.scenario, duration=args.duration)
        )
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # pymodbus logs each server start and reconnect at INFO in its own words; ours say more.
        logging.getLogger("pymodbus").setLevel(logging.WARNING)
    try:
        return _run(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
