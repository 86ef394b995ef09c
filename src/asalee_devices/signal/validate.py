"""Checks shared by the signal layer and the readers that feed it (``drivers/``, the CLI's file options): one
sampling-rate check, so a bad rate reads the same wherever it is caught."""

from __future__ import annotations

import math

from asalee_devices.errors import SignalError

__all__ = ["check_sampling_rate"]


def check_sampling_rate(fs_hz: float, *, minimum_hz: float = 0.0, purpose: str = "", field: str = "fs_hz"
                        ) -> float:
    """The sampling rate ``fs_hz`` as a float, when it is a finite number above 0 and at least ``minimum_hz``.

    Parameters
    ----------
    fs_hz : float
        The rate to check, in Hz.
    minimum_hz : float, optional
        The lowest rate the caller can work with, in Hz (0: any rate above 0).
    purpose : str, optional
        What the minimum is for, appended to the expected range (``"R-peak detection"``).
    field : str, optional
        The name of the offending input in the error (``"fs_hz"``, ``"resample_hz"``, ``"--rate"``).

    Returns
    -------
    float
        ``fs_hz``, in Hz.

    Raises
    ------
    SignalError
        "Sampling rate is not a finite number" (NaN, infinite, not a number) or "Sampling rate too low" (0,
        negative, below ``minimum_hz``); ``expected`` gives the range (and ``purpose``).
    """
    try:
        rate: float | None = float(fs_hz)
    except (TypeError, ValueError):
        rate = None
    finite = rate is not None and math.isfinite(rate)
    if rate is None or not finite or rate <= 0 or rate < minimum_hz:
        raise SignalError("Sampling rate too low" if finite else "Sampling rate is not a finite number",
                          field=field, value=fs_hz if rate is None else rate,
                          expected=(f">= {minimum_hz:g} Hz" if minimum_hz > 0 else "a positive rate (> 0 Hz)")
                          + (f" for {purpose}" if purpose else ""))
    return rate
