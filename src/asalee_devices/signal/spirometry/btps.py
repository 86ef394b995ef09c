"""BTPS conversion (ATS/ERS): factor from ambient conditions, or a device-supplied factor, applied once."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from asalee_devices.errors import InputError, SignalError
from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording

#: Saturated water-vapour pressure at 37 degC (mmHg).
PH2O_37C_MMHG = 47.0
MMHG_PER_HPA = 0.750062
#: Plausible room conditions for a spirometry (ATS/ERS: 17-40 degC recommended; sea level to ~4 000 m).
TEMPERATURE_RANGE_C = (0.0, 40.0)
PRESSURE_RANGE_MMHG = (400.0, 850.0)


def saturated_vapour_pressure_mmhg(temperature_c: float) -> float:
    """Saturated water-vapour pressure (Magnus formula, hPa -> mmHg).

    Parameters
    ----------
    temperature_c : float
        Gas temperature (°C).

    Returns
    -------
    float
        The saturated vapour pressure (mmHg).
    """
    hpa = 6.1094 * math.exp(17.625 * temperature_c / (temperature_c + 243.04))
    return hpa * MMHG_PER_HPA


def btps_factor(temperature_c: float, pressure_mmhg: float = 760.0, *, saturated: bool = True,
                relative_humidity: float | None = None) -> float:
    """BTPS factor = [(PB - PH2O)/(PB - 47)] x [310/(273 + T)].

    PH2O = 0 for dry (ATPD) gas, the saturated pressure at T by default (ATPS), or ``relative_humidity`` x the
    saturated pressure when the room's is known.

    Parameters
    ----------
    temperature_c : float
        Gas temperature (°C).
    pressure_mmhg : float, optional
        Barometric pressure (mmHg).
    saturated : bool, optional
        Saturated (ATPS, default) or dry (ATPD) gas.
    relative_humidity : float or None, optional
        Relative humidity (0-1) of the room, when known.

    Returns
    -------
    float
        The factor multiplying ATP flows and volumes into BTPS.

    Raises
    ------
    SignalError
        When the temperature, pressure or humidity is out of the range a spirometry can meet.
    """
    if not (TEMPERATURE_RANGE_C[0] <= temperature_c <= TEMPERATURE_RANGE_C[1]):
        raise SignalError("Ambient temperature out of range", field="temperature_c", value=temperature_c,
                          expected="0-40 degC")
    if not (PRESSURE_RANGE_MMHG[0] <= pressure_mmhg <= PRESSURE_RANGE_MMHG[1]):
        raise SignalError("Barometric pressure out of range", field="pressure_mmhg", value=pressure_mmhg,
                          expected="400-850 mmHg")
    if relative_humidity is not None and not 0.0 <= relative_humidity <= 1.0:
        raise SignalError("Relative humidity out of range", field="relative_humidity", value=relative_humidity,
                          expected="0-1")
    sat = saturated_vapour_pressure_mmhg(temperature_c)
    ph2o = (sat if relative_humidity is None else relative_humidity * sat) if saturated else 0.0
    return (pressure_mmhg - ph2o) / (pressure_mmhg - PH2O_37C_MMHG) * 310.0 / (273.0 + temperature_c)


@dataclass(frozen=True)
class AmbientConditions:
    """The room's conditions for one session: entered by the nurse, or read from the device's sensors."""

    temperature_c: float
    pressure_hpa: float
    relative_humidity_pct: float | None = None
    source: Literal["nurse", "device"] = "nurse"

    def __post_init__(self) -> None:
        for name, value in (("temperature_c", self.temperature_c), ("pressure_hpa", self.pressure_hpa),
                            ("relative_humidity_pct", self.relative_humidity_pct)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value)):
                raise InputError("Ambient condition is not a number", field=name, value=str(value),
                                 expected="a finite number")
        lo, hi = TEMPERATURE_RANGE_C
        if not lo <= self.temperature_c <= hi:
            raise InputError("Room temperature impossible for a spirometry", field="temperature_c",
                             value=self.temperature_c, expected=f"{lo:g}-{hi:g} degC")
        plo, phi = (round(v / MMHG_PER_HPA) for v in PRESSURE_RANGE_MMHG)
        if not plo <= self.pressure_hpa <= phi:
            raise InputError("Barometric pressure impossible", field="pressure_hpa", value=self.pressure_hpa,
                             expected=f"{plo}-{phi} hPa (sea level ~1013 hPa)")
        if self.relative_humidity_pct is not None and not 0.0 <= self.relative_humidity_pct <= 100.0:
            raise InputError("Relative humidity impossible", field="relative_humidity_pct",
                             value=self.relative_humidity_pct, expected="0-100 %")
        if self.source not in ("nurse", "device"):
            raise InputError("Unknown source of the ambient conditions", field="source", value=self.source,
                             expected="nurse, device")

    @property
    def pressure_mmhg(self) -> float:
        return self.pressure_hpa * MMHG_PER_HPA

    def correction(self) -> BtpsCorrection:
        """The BTPS correction these conditions give (ATPS flow sensor gas: saturated unless the humidity is
        known).

        Returns
        -------
        BtpsCorrection
            The factor and the conditions it comes from.
        """
        rh = None if self.relative_humidity_pct is None else self.relative_humidity_pct / 100.0
        factor = btps_factor(self.temperature_c, self.pressure_mmhg, relative_humidity=rh)
        return BtpsCorrection(factor=factor, source="ambient", temperature_c=self.temperature_c,
                              pressure_mmhg=self.pressure_mmhg, relative_humidity=rh, conditions_from=self.source)


def apply_btps(rec: FlowRecording, correction: BtpsCorrection) -> FlowRecording:
    """Return the recording with ``correction`` applied; refuses a second correction.

    Parameters
    ----------
    rec : FlowRecording
        ATPS flow (L/s) not yet corrected.
    correction : BtpsCorrection
        The correction to apply.

    Returns
    -------
    FlowRecording
        The flow multiplied by the factor, recording the correction.

    Raises
    ------
    SignalError
        When ``rec`` is already corrected, or the factor is implausible.
    """
    if rec.btps.source != "none":
        raise SignalError("BTPS correction already applied to this recording", field="btps.source",
                          value=rec.btps.source, expected="none (ATPS data)")
    if correction.source == "none":
        return rec
    if not (0.9 <= correction.factor <= 1.2):
        raise SignalError("Implausible BTPS factor", field="factor", value=correction.factor, expected="0.9-1.2")
    if correction.source == "device":
        # The device already corrected the flow: record its factor, never multiply again.
        return replace(rec, btps=correction)
    return replace(rec, flow_l_s=rec.flow_l_s * correction.factor, btps=correction)


def reapply_ambient(rec: FlowRecording, correction: BtpsCorrection) -> FlowRecording:
    """A recording corrected from ambient conditions, corrected again from new ones (the nurse fixed a typo).

    The old factor is divided out first, so the flow carries exactly one correction. ATPS data is simply corrected;
    device-corrected data is returned unchanged (never corrected twice).

    Parameters
    ----------
    rec : FlowRecording
        The recording (flow in L/s), corrected or not.
    correction : BtpsCorrection
        The correction from the new conditions.

    Returns
    -------
    FlowRecording
        The recording with exactly one correction.
    """
    if rec.btps.source == "device":
        return rec
    if rec.btps.source == "ambient":
        rec = replace(rec, flow_l_s=rec.flow_l_s / rec.btps.factor, btps=BtpsCorrection())
    return apply_btps(rec, correction)
