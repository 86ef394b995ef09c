"""Metadata describing a filter applied to a signal, by a device or by us.

Every filtering step is recorded so the FHIR output and the PDF report can state exactly what was done to a trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FilterKind = Literal["highpass", "lowpass", "bandpass", "notch", "mains_canceller", "resample", "other"]


@dataclass(frozen=True)
class FilterStep:
    """One filtering step.

    ``applied_by`` is ``"device"`` for filters the acquisition device or its software already applied (read from
    the file or the protocol), ``"asalee"`` for ours. Cut-offs are in hertz; ``order`` is the design order (a
    zero-phase forward-backward application doubles the effective order).
    """

    kind: FilterKind
    applied_by: Literal["device", "asalee"]
    cutoff_hz: float | None = None
    cutoff_high_hz: float | None = None
    order: int | None = None
    zero_phase: bool | None = None
    design: str = ""
    q_factor: float | None = None
    note: str = ""
    #: design frequency of the filter when it differs from its nominal cut-off (Hz)
    design_hz: float | None = None
    #: for a restoration step: the cut-off of the device high-pass it undoes (Hz)
    restores_hz: float | None = None

    def describe(self) -> str:
        """Short human-readable description, e.g. ``"high-pass 0.05 Hz, Butterworth order 2, zero-phase"``.

        Returns
        -------
        str
            The kind, cut-off(s) in Hz, design and order, Q, phase and the note, comma-separated.
        """
        names = {
            "highpass": "high-pass",
            "lowpass": "low-pass",
            "bandpass": "band-pass",
            "notch": "notch",
            "mains_canceller": "mains canceller",
            "resample": "resampling",
            "other": "filter",
        }
        parts = [names[self.kind]]
        if self.cutoff_hz is not None and self.cutoff_high_hz is not None:
            parts[0] += f" {self.cutoff_hz:g}-{self.cutoff_high_hz:g} Hz"
        elif self.cutoff_hz is not None:
            parts[0] += f" {self.cutoff_hz:g} Hz"
        if self.design:
            parts.append(self.design + (f" order {self.order}" if self.order is not None else ""))
        elif self.order is not None:
            parts.append(f"order {self.order}")
        if self.q_factor is not None:
            parts.append(f"Q {self.q_factor:g}")
        if self.zero_phase is not None:
            parts.append("zero-phase" if self.zero_phase else "causal")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)
