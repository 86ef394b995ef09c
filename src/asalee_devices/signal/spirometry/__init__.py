"""Forced spirometry per ATS/ERS 2019: indices, acceptability, grades, reported values, reference values."""

from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording

__all__ = ["BtpsCorrection", "FlowRecording"]
