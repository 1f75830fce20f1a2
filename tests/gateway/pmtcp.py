"""A Modbus TCP server not built on pymodbus (pyModbusTCP), answering as a test scripts it.

Real panels and serial-to-TCP gateways are not pymodbus; a second implementation keeps the
gateway honest about exception answers: any code, for every request or for one block.
pyModbusTCP serves from threads, so the script is guarded by a lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from pyModbusTCP.constants import EXP_NONE
from pyModbusTCP.server import DataHandler, ModbusServer

from tests.servers import listen_ports, wait_for_port

__all__ = ["PANEL_PROFILE", "ScriptedHandler", "run_pmtcp"]

# A small fire panel: system status word (facp_system) at 0, a pressure at 5, and two detector
# status words (facp_point) at 10 and 12: four blocks when gaps are not merged.
PANEL_PROFILE = """\
name: pm-panel
kind: facp
points:
  - name: system_status
    address: 0
    role: facp_system
    flags: {0: normal, 1: fire, 2: fault}
  - {name: pressure, address: 5, scale: 0.01, unit: MPa}
  - {name: P0001, address: 10, role: facp_point, flags: {0: normal, 1: fire, 2: fault}}
  - {name: P0002, address: 12, role: facp_point, flags: {0: normal, 1: fire, 2: fault}}
"""


class ScriptedHandler(DataHandler):
    """Holding registers from `holding`; exception answers as `fail_all` and `refuse` say.

    `fail_all`: answer every request with this exception code (None: answer normally).
    `refuse`: holding address -> exception code for any read that covers it.
    `delay`: seconds to wait before each answer (a device slower than the gateway's timeout).
    """

    def __init__(self, holding: dict[int, int] | None = None) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.holding: dict[int, int] = dict(holding or {})
        self.fail_all: int | None = None
        self.refuse: dict[int, int] = {}
        self.delay = 0.0
        self.asked: list[tuple[int, int]] = []  # (address, count) of holding reads

    def set(self, **changes: Any) -> None:
        """Change the script atomically (`holding`, `fail_all`, `refuse`, `delay`)."""
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, value)

    def read_h_regs(self, address: int, count: int, srv_info: Any) -> DataHandler.Return:
        with self.lock:
            delay = self.delay
        if delay:
            time.sleep(delay)  # in the server's own thread: the device is slow, not the test
        with self.lock:
            self.asked.append((address, count))
            if self.fail_all is not None:
                return DataHandler.Return(exp_code=self.fail_all)
            for refused, code in self.refuse.items():
                if address <= refused < address + count:
                    return DataHandler.Return(exp_code=code)
            data = [self.holding.get(a, 0) for a in range(address, address + count)]
        return DataHandler.Return(exp_code=EXP_NONE, data=data)


@contextlib.contextmanager
def run_pmtcp(handler: ScriptedHandler, port: int | None = None) -> Iterator[int]:
    """Serve `handler` on 127.0.0.1 in pyModbusTCP's threads; yields the port."""
    port = port or listen_ports(1)[0]
    server = ModbusServer("127.0.0.1", port, no_block=True, data_hdl=handler)
    server.start()
    try:
        wait_for_port("127.0.0.1", port)
        yield port
    finally:
        server.stop()
