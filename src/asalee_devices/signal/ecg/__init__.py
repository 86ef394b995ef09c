"""ECG analysis: the recording type, diagnostic cleaning, technical quality and R-peak detection.

Technical measurements only: this package never produces a rhythm label, an interpretation or a diagnosis.
"""

from asalee_devices.signal.ecg.recording import (
    INDEPENDENT_LEADS,
    STANDARD_LEADS,
    EcgRecording,
    canonical_lead_name,
    complete_lead_set,
    einthoven_residual_uv,
    from_leads,
)

__all__ = [
    "INDEPENDENT_LEADS",
    "STANDARD_LEADS",
    "EcgRecording",
    "canonical_lead_name",
    "complete_lead_set",
    "einthoven_residual_uv",
    "from_leads",
]
