"""Point specifications: where a value lives in a device and how to decode it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fireroom.codec import DataType, WordOrder, register_count

__all__ = ["PointSpec", "PointTemplate", "Role", "Table", "Transmitter"]

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")]


class Table(StrEnum):
    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"


class Role(StrEnum):
    """What a point means to the rules; points without a role are telemetry only."""

    FACP_SYSTEM = "facp_system"  # panel system status word (GB/T 26875.3 style flags)
    FACP_POINT = "facp_point"  # one detector, call point or module status word
    PUMP_RUNNING = "pump_running"
    PUMP_DEMAND = "pump_demand"
    PUMP_START = "pump_start"  # a start command or remote start signal to the controller
    PUMP_MODE = "pump_mode"  # enumeration: auto, manual, off
    PUMP_ALARMS = "pump_alarms"  # flags word: every set flag is a fault
    PRESSURE = "pressure"
    LEVEL = "level"
    TEMPERATURE = "temperature"


class Transmitter(BaseModel):
    """A 4–20 mA transmitter: the raw value (after scale) is in mA, mapped to low..high."""

    model_config = ConfigDict(extra="forbid")

    low: float
    high: float
    unit: str

    @model_validator(mode="after")
    def _span(self) -> Self:
        if self.high == self.low:
            raise ValueError(f"transmitter range is empty: low = high = {self.low}")
        return self


class _PointFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: Table = Table.HOLDING
    type: DataType = DataType.U16
    bit: Annotated[int, Field(ge=0, le=15)] | None = None
    word_order: WordOrder = WordOrder.ABCD
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    enum: dict[int, str] | None = None
    flags: dict[Annotated[int, Field(ge=0, le=31)], str] | None = None
    role: Role | None = None
    transmitter: Transmitter | None = None
    low_limit: float | None = None
    high_limit: float | None = None
    label: str | None = None
    kind: str | None = None
    loop: int | None = None
    zone: int | None = None
    # Report by exception: a number is re-sent when it moved more than this (engineering units).
    deadband: Annotated[float, Field(ge=0)] | None = None
    # MQTT devices: where the value is in the device's JSON, e.g. `status.system` or `ch[0].ma`.
    path: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class PointSpec(_PointFields):
    """A fully resolved point."""

    name: Name
    address: Annotated[int, Field(ge=0, le=65535)]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        bits_table = self.table in (Table.COIL, Table.DISCRETE)
        if self.type is DataType.COIL and self.table is not Table.COIL:
            raise ValueError(f"type 'coil' needs table 'coil', not {self.table.value!r}")
        if self.type is DataType.DISCRETE and self.table is not Table.DISCRETE:
            raise ValueError(f"type 'discrete' needs table 'discrete', not {self.table.value!r}")
        if bits_table and self.type not in (DataType.COIL, DataType.DISCRETE):
            raise ValueError(f"table {self.table.value!r} holds bits, not {self.type.value!r}")
        if self.type is DataType.BIT and self.bit is None:
            raise ValueError("type 'bit' needs 'bit' (0-15)")
        if self.type is not DataType.BIT and self.bit is not None:
            raise ValueError(f"'bit' only applies to type 'bit', not {self.type.value!r}")
        if (self.enum or self.flags) and self.type not in (DataType.U16, DataType.U32):
            raise ValueError(f"enum and flags need type u16 or u32, not {self.type.value!r}")
        if self.enum and self.flags:
            raise ValueError("a point has either enum or flags, not both")
        if self.flags and self.type is DataType.U16 and max(self.flags) > 15:
            raise ValueError(f"flag bit {max(self.flags)} does not fit in a u16")
        if self.address + register_count(self.type) - 1 > 65535:
            raise ValueError(f"address {self.address} + {self.type.value} passes 65535")
        return self

    @property
    def count(self) -> int:
        return register_count(self.type)


class PointTemplate(_PointFields):
    """Per-point registers of a panel: point `index` lives at `base + index * stride`."""

    base: Annotated[int, Field(ge=0, le=65535)]
    stride: Annotated[int, Field(ge=1)] = 1
    max_index: Annotated[int, Field(ge=0)] = 1023
