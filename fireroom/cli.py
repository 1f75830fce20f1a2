"""The `fireroom` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fireroom.config import SerialLine, Site, load_site
from fireroom.errors import ConfigError, ConfigProblem, SpoolError
from fireroom.usercli import add_user_parser, user_command

if TYPE_CHECKING:
    from gateway.influx.settings import InfluxSettings

__all__ = ["main"]

EXAMPLE_SITE = Path(__file__).resolve().parent.parent / "examples" / "site.yaml"
EXIT_CONFIG = 2
HOSTILE_MODES = """\
hostile modes, as DEVICE=MODE[:ARG][,every=N][,p=P] (the device's simulator moves to a free
loopback port; every=N: only every Nth answer; p=P: only that share of answers, seeded):
  late[:SECONDS]         answer SECONDS late (default 2)
  wrong_tid[:ID]         answer with another transaction id (or with ID)
  wrong_function         change the answer's function code (3 and 4, 1 and 2 swap)
  short[:frame|pdu]      frame: the header promises more than is sent, then silence;
                         pdu: the last data bytes cut, the header consistent
  wrong_byte_count[:N]   byte count off by N (default 2), data unchanged
  drop_mid_frame         send half the answer, then close the connection
  garbage[:pdu|frame]    random PDU bytes in a valid header, or random bytes for the frame
  flap[:DOWN/UP]         refuse connections for DOWN s, serve for UP s, repeating (1/2)
  mix[:DOWN]             one of the above at random per answer (a flap lasts DOWN s)
"""


def _telemetry_options() -> argparse.ArgumentParser:
    """InfluxDB and metrics options; each falls back to its FIREROOM_* environment variable."""
    options = argparse.ArgumentParser(add_help=False)
    influx = options.add_argument_group(
        "InfluxDB (off without a URL; options win over FIREROOM_INFLUX_* variables)"
    )
    influx.add_argument("--influx-url", metavar="URL", help="e.g. http://127.0.0.1:8086")
    influx.add_argument("--influx-api", choices=["v1", "v2"],
                        help="v1: InfluxDB 1.x /write; v2: /api/v2/write (2.x, 3.x, 1.8+)")
    influx.add_argument("--influx-database", metavar="DB", help="v1: the database")
    influx.add_argument("--influx-retention-policy", metavar="RP", help="v1: retention policy")
    influx.add_argument("--influx-username", metavar="USER")
    influx.add_argument("--influx-password", metavar="PASSWORD",
                        help="prefer FIREROOM_INFLUX_PASSWORD: options show in `ps`")
    influx.add_argument("--influx-org", metavar="ORG", help="v2: the organization")
    influx.add_argument("--influx-bucket", metavar="BUCKET", help="v2: the bucket")
    influx.add_argument("--influx-token", metavar="TOKEN",
                        help="v2: the API token; prefer FIREROOM_INFLUX_TOKEN")
    influx.add_argument("--influx-buffer-mb", metavar="MIB", type=float,
                        help="bound of the disk buffer (default 1024)")
    metrics = options.add_argument_group("metrics")
    metrics.add_argument("--metrics-port", type=int, metavar="PORT",
                         help="serve Prometheus /metrics (FIREROOM_METRICS_PORT); off if unset")
    metrics.add_argument("--metrics-host", metavar="HOST",
                         help="address to bind (FIREROOM_METRICS_HOST, default 127.0.0.1)")
    return options


def _parser() -> argparse.ArgumentParser:
    telemetry = _telemetry_options()
    parser = argparse.ArgumentParser(
        prog="fireroom", description="Fire control room service: gateway, rules, incidents."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check-config", help="validate a site config and summarize it")
    check.add_argument("file", type=Path)

    demo = commands.add_parser(
        "demo", help="run a whole simulated site in one process on embedded defaults",
        parents=[telemetry],
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

    gateway = commands.add_parser(
        "gateway", help="poll the site's devices, publish telemetry", parents=[telemetry]
    )
    gateway.add_argument("--config", type=Path, required=True)
    gateway.add_argument("--data-dir", type=Path, help="where the InfluxDB buffer lives")

    rules = commands.add_parser(
        "rules", help="evaluate telemetry, raise and clear incidents", parents=[telemetry]
    )
    rules.add_argument("--config", type=Path, required=True)
    rules.add_argument("--data-dir", type=Path)

    notify = commands.add_parser("notify", help="send alerts to maintenance engineers")
    notify.add_argument("--config", type=Path, required=True)
    notify.add_argument("--data-dir", type=Path, help="incident store and alert outbox")

    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--config", type=Path, help="site config (for its data directory)")
    api.add_argument("--data-dir", type=Path)
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    simulate = commands.add_parser(
        "simulate", help="run the site's devices as simulators", epilog=HOSTILE_MODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("--config", type=Path, required=True)
    simulate.add_argument("--scenario")
    simulate.add_argument("--duration", type=float)
    simulate.add_argument("--hostile", action="append", default=[], metavar="DEVICE=MODE[:ARG]",
                          help="answer for DEVICE through a misbehaving proxy on its configured"
                               " port (repeatable; modes below)")
    simulate.add_argument("--serial-port", action="append", default=[], metavar="LINE=PATH",
                          help="serve serial line LINE on PATH, e.g. the other end of a pty pair"
                               " or a second USB adapter (repeatable); without it the simulator"
                               " opens the line's own `port`")

    commands.add_parser("scenarios", help="list the shipped scenarios")

    add_user_parser(commands)
    dashboards = commands.add_parser("dashboards", help="Grafana dashboards")
    dashboard_commands = dashboards.add_subparsers(dest="dashboards_command", required=True,
                                                   metavar="COMMAND")
    push = dashboard_commands.add_parser(
        "push", help="upload the dashboards to a running Grafana (updates them in place)"
    )
    push.add_argument("--url", default=os.environ.get("FIREROOM_GRAFANA_URL"),
                      help="Grafana's root URL (FIREROOM_GRAFANA_URL), e.g. http://grafana:3000")
    push.add_argument("--token", default=os.environ.get("FIREROOM_GRAFANA_TOKEN"),
                      help="service account token (Editor); prefer FIREROOM_GRAFANA_TOKEN: "
                           "options show in `ps`")
    push.add_argument("--folder", help="folder title, created if missing (default: General)")
    push.add_argument("--datasource-uid", metavar="UID",
                      help="InfluxDB data source the dashboards open with")
    push.add_argument("--dir", type=Path, help="dashboard JSON files (default: the shipped ones)")
    return parser


def _load(path: Path) -> Site:
    """A site for a command that does not run it as a service (check-config, simulate)."""
    return load_site(path)


def _load_service(path: Path) -> Site:
    """A site for a service: refused unless it meets GB 25506 or declares why not."""
    from fireroom.conformance import load_conforming_site

    return load_conforming_site(path)


def _data_dir(site: Site | None, given: Path | None) -> Path:
    if given is not None:
        return given
    if site is not None:
        configured = Path(site.config.data_dir)
        if not configured.is_absolute():
            configured = Path(site.source).resolve().parent / configured
        return configured
    return Path("data")


def _influx(args: argparse.Namespace) -> InfluxSettings | None:
    """InfluxDB settings from the options and the environment; None when no URL is given."""
    from gateway.influx.settings import ENVIRONMENT, InfluxSettings

    return InfluxSettings.resolve({key: getattr(args, f"influx_{key}") for key in ENVIRONMENT})


def _metrics(args: argparse.Namespace) -> tuple[int | None, str]:
    """The metrics port (None: off) and host, from the options or the environment."""
    port = args.metrics_port
    if port is None and (text := os.environ.get("FIREROOM_METRICS_PORT")):
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ConfigError(
                "FIREROOM_METRICS_PORT", [ConfigProblem("", f"{text!r} is not a port number")]
            )
        port = int(text)
    host = args.metrics_host or os.environ.get("FIREROOM_METRICS_HOST") or "127.0.0.1"
    return port, host


def _serial_ports(site: Site, specs: Sequence[str]) -> dict[str, str]:
    """`--serial-port LINE=PATH` options as {line: path}; every bad one is reported at once."""
    lines = {line.id: line for line in site.config.lines}
    serial = ", ".join(sorted(i for i, line in lines.items() if isinstance(line, SerialLine)))
    ports: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for spec in specs:
        line_id, _, path = spec.partition("=")
        line = lines.get(line_id)
        if not line_id or not path:
            problems.append(ConfigProblem(spec, "give LINE=PATH, e.g. riser=/dev/pts/7"))
        elif line is None:
            problems.append(ConfigProblem(
                spec, f"{line_id!r} is not one of the site's serial lines: {serial or 'none'}"
            ))
        elif not isinstance(line, SerialLine):
            problems.append(ConfigProblem(
                spec, f"line {line_id!r} is {line.describe()}: it is served on its host and port"
            ))
        elif line_id in ports:
            problems.append(ConfigProblem(spec, f"line {line_id!r} is given twice"))
        else:
            ports[line_id] = path
    if problems:
        raise ConfigError("--serial-port", problems)
    return ports


def _simulate(args: argparse.Namespace) -> int:
    from fireroom import runners
    from simulators.errors import SimulatorError

    site = _load(args.config)
    serial_ports = _serial_ports(site, args.serial_port)
    try:
        if args.hostile:
            from simulators.hostile import run_hostile

            return asyncio.run(run_hostile(site, args.hostile, lambda moved: runners.simulate(
                moved, scenario=args.scenario, duration=args.duration,
                serial_ports=serial_ports)))
        return asyncio.run(runners.simulate(site, scenario=args.scenario,
                                            duration=args.duration, serial_ports=serial_ports))
    except SimulatorError as exc:  # a port that cannot be opened or listened on
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _check_config(path: Path) -> int:
    from fireroom.conformance import enforce
    from fireroom.summary import summarize

    site = _load(path)
    problems = enforce(site)
    declared = site.config.nonconforming
    print(summarize(site))
    for problem in problems:
        print(f"warning: {problem}")
    if declared is not None:
        if problems:
            print(f"nonconforming, approved by {declared.approved_by}: {declared.reason}")
        else:
            # A stale declaration keeps an incident open in every handover for nothing.
            print("declared nonconforming, but no problem found: the declaration can go")
    print("config OK")
    return 0


def _run(args: argparse.Namespace) -> int:
    from fireroom import runners

    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "scenarios":
        return runners.list_scenarios()
    if args.command == "demo":
        site = _load_service(args.config)
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
                influx=_influx(args),
                metrics=_metrics(args),
            )
        )
    if args.command == "gateway":
        site = _load_service(args.config)
        return asyncio.run(
            runners.gateway(
                site, data_dir=_data_dir(site, args.data_dir), influx=_influx(args),
                metrics=_metrics(args),
            )
        )
    if args.command == "rules":
        site = _load_service(args.config)
        return asyncio.run(
            runners.rules(
                site, _data_dir(site, args.data_dir), influx=_influx(args),
                metrics=_metrics(args),
            )
        )
    if args.command == "notify":
        site = _load_service(args.config)
        return asyncio.run(runners.notify(site, _data_dir(site, args.data_dir)))
    if args.command == "api":
        api_site = _load_service(args.config) if args.config else None
        data_dir = _data_dir(api_site, args.data_dir)
        return asyncio.run(runners.api(api_site, data_dir, args.host, args.port))
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "user":
        return user_command(args)
    if args.command == "dashboards":
        from fireroom.dashboards import push_command

        return push_command(args.url, args.token, folder=args.folder,
                            datasource_uid=args.datasource_uid, directory=args.dir)
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
        # httpx logs every request at INFO: one line per InfluxDB write.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return _run(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except (OSError, SpoolError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
