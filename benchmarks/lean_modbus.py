"""Simulated panels for `benchmarks.gateway`, served from a process of their own.

    python -m benchmarks.lean_modbus --config site.yaml [--simulator lean] [--changes 20]

Prints `ready` once every device listens and serves until SIGTERM. The register images are
this repo's (`simulators.SiteModel`); `--simulator pymodbus` (the default) serves them with
`simulators.SiteSimulator`, `--simulator lean` with the lean server below.

The lean server answers Modbus TCP holding and input register reads (functions 3 and 4) with
the bytes a device sends: the MBAP header echoing the transaction and unit ids, then one
`struct.pack` of the words from the image; an address no point occupies answers exception 2,
any other function exception 1. It knows no faults, writes or bit tables. It costs the
simulators' core less than pymodbus' server (at 1,500 requests a second, about 26 % of a core
for simulators, Mosquitto and listener together against 36 %), and it alone can answer
`--volatile`.

`--changes N` sets N random detector points a second to a random state through the panel
model (which also moves the system status word, the counts and the event counter).
`--volatile` makes every word of every answer differ from the same word in the previous
answer to the same request: each answer XORs its words with the next of 2047 masks (the low
eleven bits), so a point goes through thousands of values, not a few states.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import signal
import struct
from pathlib import Path

from fireroom.config import TcpTransport, load_site
from fireroom.points import Table
from simulators import SiteModel, SiteSimulator

__all__ = ["LeanServer", "listen", "serve"]

_MAX_REGISTERS = 125
_VOLATILE_MASKS = 2047  # XOR masks 1..2047: low eleven bits, no two answers in a row alike


class LeanServer:
    """Answers the register reads of one device from its register image.

    Args:
        model: the site model holding the device's image.
        device: the device's id.
        volatile: XOR the words of each answer with the next of 2047 masks (see above).
    """

    def __init__(self, model: SiteModel, device: str, *, volatile: bool = False) -> None:
        # function code -> (first address, words, 1 where a point lives)
        self.tables: dict[int, tuple[int, list[int], bytes]] = {}
        for function, table in ((3, Table.HOLDING), (4, Table.INPUT)):
            block = model.devices[device].blocks.get(table)
            if block is None:
                continue
            occupied = bytearray(len(block.words))
            for address, count in block.runs:
                occupied[address - block.start : address - block.start + count] = b"\x01" * count
            self.tables[function] = (block.start, block.words, bytes(occupied))
        self.volatile = volatile
        self._answers: collections.Counter[tuple[int, int]] = collections.Counter()

    def answer(self, pdu: bytes) -> bytes:
        """The response PDU to a request PDU."""
        function = pdu[0]
        table = self.tables.get(function) if len(pdu) == 5 else None
        if table is None:
            return bytes((function | 0x80, 1))
        address, count = struct.unpack_from(">HH", pdu, 1)
        start, words, occupied = table
        offset = address - start
        if not 1 <= count <= _MAX_REGISTERS or offset < 0 or offset + count > len(words) or (
            0 in occupied[offset : offset + count]
        ):
            return bytes((function | 0x80, 2))
        values = words[offset : offset + count]
        if self.volatile:
            key = (function, address)
            self._answers[key] += 1
            mask = self._answers[key] % _VOLATILE_MASKS + 1
            values = [value ^ mask for value in values]
        return struct.pack(f">BB{count}H", function, 2 * count, *values)


class _Connection(asyncio.Protocol):
    def __init__(self, server: LeanServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 8:
            tid, _, length, unit = struct.unpack_from(">HHHB", buffer)
            end = 6 + length
            if len(buffer) < end:
                return
            pdu = bytes(buffer[7:end])
            del buffer[:end]
            answer = self.server.answer(pdu)
            assert self.transport is not None
            self.transport.write(struct.pack(">HHHB", tid, 0, len(answer) + 1, unit) + answer)


async def listen(server: LeanServer, host: str, port: int) -> asyncio.Server:
    """Serve one device's answers on `host:port` (0: any free port) until closed."""
    return await asyncio.get_running_loop().create_server(
        lambda: _Connection(server), host, port
    )


async def serve(config: Path, *, simulator: str = "pymodbus", changes: float = 0.0,
                volatile: bool = False) -> None:
    """Serve the site's devices until SIGTERM."""
    if volatile and simulator != "lean":
        raise ValueError("only the lean server answers volatile")
    site = load_site(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    rng = random.Random(7)
    detectors = {
        device: sorted(p.name for p in points if p.name.startswith("P"))
        for device, points in site.points.items()
    }
    states = ["normal", "fire", "fault", "disabled", "normal", "normal"]
    async with contextlib.AsyncExitStack() as stack:
        if simulator == "pymodbus":
            model = (await stack.enter_async_context(SiteSimulator(site))).model
        else:
            model = SiteModel(site)
            for device in site.config.devices:
                transport = device.transport
                assert isinstance(transport, TcpTransport)
                lean = LeanServer(model, device.id, volatile=volatile)
                server = await listen(lean, transport.host, transport.port)
                stack.push_async_callback(server.wait_closed)
                stack.callback(server.close)
        print("ready", flush=True)
        step = 0.1
        while not stop.is_set():
            # On average `changes` a second, spread over the steps.
            for _ in range(int(changes * step + rng.random())):
                device = rng.choice(site.config.devices).id
                if detectors[device]:
                    model.panel(device).set_point_state(
                        rng.choice(detectors[device]), rng.choice(states)
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), step)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--simulator", choices=("pymodbus", "lean"), default="pymodbus")
    parser.add_argument("--changes", type=float, default=0.0)
    parser.add_argument("--volatile", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.config, simulator=args.simulator, changes=args.changes,
                      volatile=args.volatile))


if __name__ == "__main__":
    main()
