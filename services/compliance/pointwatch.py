"""Evidence per point: detector tests seen in a panel's test mode, and periodic readings."""

from __future__ import annotations

from dataclasses import dataclass

from fireroom.domain import Quality
from fireroom.obligation_binding import Obligation
from fireroom.telemetry import Telemetry
from services.compliance.pumps import Credited
from services.compliance.records import AUTOMATIC, NewEvidence, Result, Source

__all__ = ["DetectorWatch", "ReadingWatch"]

TEST_FLAG = "test"
FIRE_FLAG = "fire"


@dataclass(slots=True)
class _Episode:
    since: float
    credited: bool = False


class DetectorWatch:
    """Credits a detector when its point word goes through test mode.

    A point is tested when its `test` flag is set and then cleared, or when it reports fire
    while in test mode (credited at once, so a walk test that leaves points in test still
    counts). One record per test episode.
    """

    def __init__(self, device: str, duties: dict[str, list[Obligation]]) -> None:
        self.device = device
        self.duties = duties  # point -> the obligations its tests count for
        self._episodes: dict[str, _Episode] = {}

    def observe(self, telemetry: Telemetry) -> list[NewEvidence]:
        out: list[NewEvidence] = []
        for reading in telemetry.readings:
            duties = self.duties.get(reading.point)
            if duties is None or reading.quality is not Quality.GOOD:
                continue
            flags = reading.value
            if not isinstance(flags, list):
                continue
            episode = self._episodes.get(reading.point)
            if TEST_FLAG in flags:
                if episode is None:
                    episode = self._episodes[reading.point] = _Episode(telemetry.ts)
                if FIRE_FLAG in flags and not episode.credited:
                    episode.credited = True
                    out += self._credit(reading.point, duties, episode, telemetry.ts, True)
            elif episode is not None:
                del self._episodes[reading.point]
                if not episode.credited:
                    out += self._credit(reading.point, duties, episode, telemetry.ts, False)
        return out

    def _credit(
        self, point: str, duties: list[Obligation], episode: _Episode, ts: float, alarm: bool
    ) -> list[NewEvidence]:
        return [
            NewEvidence(
                obligation=obligation.id,
                device=self.device,
                point=point,
                result=Result.PASS,
                performed_at=ts,
                performed_by=AUTOMATIC,
                source=Source.TELEMETRY,
                detail={"test_started": episode.since, "alarm_in_test": alarm},
            )
            for obligation in duties
        ]


class ReadingWatch:
    """Credits a point once per period for a good reading (a tank level read this month)."""

    def __init__(self, device: str, duties: dict[str, list[Obligation]], credited: Credited):
        self.device = device
        self.duties = duties
        self._credited = credited

    def observe(self, telemetry: Telemetry) -> list[NewEvidence]:
        out: list[NewEvidence] = []
        for reading in telemetry.readings:
            duties = self.duties.get(reading.point)
            value = reading.value
            if (
                duties is None
                or reading.quality is not Quality.GOOD
                or not isinstance(value, (int, float))
                or isinstance(value, bool)
            ):
                continue
            for obligation in duties:
                if self._credited((obligation.id, self.device, reading.point), telemetry.ts):
                    continue
                out.append(
                    NewEvidence(
                        obligation=obligation.id,
                        device=self.device,
                        point=reading.point,
                        result=Result.PASS,
                        performed_at=telemetry.ts,
                        performed_by=AUTOMATIC,
                        source=Source.TELEMETRY,
                        figures={"value": float(value)},
                    )
                )
        return out
