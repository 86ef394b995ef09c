"""The spirometry recording type: one manoeuvre as a regularly sampled flow-time signal.

Convention (ATS/ERS): flow in L/s, exhaled flow positive, inspired flow negative; volume is the trapezoidal
integral of flow. The recording may start with the inspiration before the blow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import SignalError
from asalee_devices.signal.validate import check_sampling_rate

BtpsSource = Literal["none", "ambient", "device"]

#: Lowest sampling rate accepted for forced spirometry (ATS/ERS: >= 100 Hz).
MIN_SPIRO_FS_HZ = 100.0


@dataclass(frozen=True)
class BtpsCorrection:
    """Which BTPS correction the flow values already carry.

    ``source`` is ``"none"`` (ATPS data, nothing applied), ``"ambient"`` (we applied the factor computed from
    ambient conditions) or ``"device"`` (the device applied its own correction; never apply another).
    """

    factor: float = 1.0
    source: BtpsSource = "none"
    temperature_c: float | None = None
    pressure_mmhg: float | None = None
    relative_humidity: float | None = None
    #: where the ambient conditions came from: "nurse" (entered for the session) or "device" (its own sensors)
    conditions_from: str = ""


@dataclass(frozen=True, eq=False)
class FlowRecording:
    """One forced manoeuvre as recorded.

    Attributes:
        flow_l_s: flow samples in L/s (exhaled positive), regularly sampled.
        fs_hz: sampling rate in hertz (>= 100 Hz).
        btps: the BTPS correction already applied to ``flow_l_s``.
        interrupted: True when acquisition stopped early (device unplugged, link lost).
        gaps: sample ranges ``(start, stop)`` lost in transmission; a manoeuvre with gaps is not acceptable.
        device_volume_l: optional volume channel as sent by the device (L), kept for cross-checks.
    """

    flow_l_s: NDArray[np.float64]
    fs_hz: float
    btps: BtpsCorrection = BtpsCorrection()
    interrupted: bool = False
    gaps: tuple[tuple[int, int], ...] = ()
    device_volume_l: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        f = self.flow_l_s
        if not isinstance(f, np.ndarray) or f.ndim != 1:
            raise SignalError("Flow must be a 1-D array of samples", field="flow_l_s", expected="1-D array in L/s")
        check_sampling_rate(self.fs_hz)

    @property
    def n_samples(self) -> int:
        return int(self.flow_l_s.size)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz
