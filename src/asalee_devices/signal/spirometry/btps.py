"""BTPS conversion (ATS/ERS): factor from ambient conditions, or a device-supplied factor, applied once."""

from __future__ import annotations

import math
from dataclasses import replace

from asalee_devices.errors import SignalError
from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording

#: Saturated water-vapour pressure at 37 degC (mmHg).
PH2O_37C_MMHG = 47.0


def saturated_vapour_pressure_mmhg(temperature_c: float) -> float:
    """Saturated water-vapour pressure (Magnus formula, hPa -> mmHg)."""
    hpa = 6.1094 * math.exp(17.625 * temperature_c / (temperature_c + 243.04))
    return hpa * 0.750062


def btps_factor(temperature_c: float, pressure_mmhg: float = 760.0, *, saturated: bool = True) -> float:
    """BTPS factor = [(PB - PH2O)/(PB - 47)] x [310/(273 + T)]; PH2O = 0 for dry (ATPD) gas."""
    if not (0.0 <= temperature_c <= 40.0):
        raise SignalError("Ambient temperature out of range", field="temperature_c", value=temperature_c,
                          expected="0-40 degC")
    if not (400.0 <= pressure_mmhg <= 850.0):
        raise SignalError("Barometric pressure out of range", field="pressure_mmhg", value=pressure_mmhg,
                          expected="400-850 mmHg")
    ph2o = saturated_vapour_pressure_mmhg(temperature_c) if saturated else 0.0
    return (pressure_mmhg - ph2o) / (pressure_mmhg - PH2O_37C_MMHG) * 310.0 / (273.0 + temperature_c)


def apply_btps(rec: FlowRecording, correction: BtpsCorrection) -> FlowRecording:
    """Return the recording with ``correction`` applied; refuses a second correction."""
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
