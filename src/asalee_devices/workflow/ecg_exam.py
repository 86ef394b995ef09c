"""A resting 12-lead ECG examination: captures, the technical quality verdict for the nurse, retakes, and the capture
kept for the GP. Technical feedback only: no interpretation is ever produced here (the GP interprets).

Every capture is kept (interrupted ones flagged); the nurse keeps one (by default the last acceptable one) and the
others stay in the examination's history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from asalee_devices.errors import AsaleeError
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.ecg.results import EcgAnalysis

Lang = Literal["fr", "en"]

_INTERRUPTED = {"fr": "Enregistrement interrompu (appareil déconnecté) — refaire l'ECG",
                "en": "Recording interrupted (device disconnected) — record the ECG again"}
_NOT_ANALYSABLE = {"fr": "Tracé non analysable — refaire l'ECG ({reason})",
                   "en": "Trace could not be analysed — record the ECG again ({reason})"}
_ACCEPTABLE = {"fr": "Qualité technique acceptable — tracé prêt pour le médecin",
               "en": "Technical quality acceptable — trace ready for the physician"}
_RETAKE = {"fr": "Refaire l'ECG conseillé", "en": "Retake advised"}


@dataclass(frozen=True)
class CaptureFeedback:
    """What the nurse sees after a capture."""

    number: int
    analysis: EcgAnalysis | None
    acceptable: bool
    verdict_message: str
    messages: tuple[str, ...]
    heart_rate_bpm: float | None
    analysis_ms: float
    error: str | None = None


@dataclass
class EcgExamination:
    """Captures of one ECG examination, analysed with the diagnostic cleaning chain and technical quality checks."""

    mains_hz: float = 50.0
    lang: Lang = "fr"
    captures: list[EcgRecording] = field(default_factory=list)
    analyses: list[EcgAnalysis | None] = field(default_factory=list)
    kept: int | None = None

    def add_capture(self, rec: EcgRecording) -> CaptureFeedback:
        """Analyse a new capture (never raises on a bad trace: it is kept and reported with the reason)."""
        from asalee_devices.signal.ecg.analysis import analyze_ecg

        t0 = time.perf_counter()
        self.captures.append(rec)
        number = len(self.captures)
        try:
            analysis: EcgAnalysis | None = analyze_ecg(rec, mains_hz=self.mains_hz)
        except AsaleeError as exc:
            self.analyses.append(None)
            return CaptureFeedback(number, None, False, _RETAKE[self.lang],
                                   (_NOT_ANALYSABLE[self.lang].format(reason=str(exc)),), None,
                                   (time.perf_counter() - t0) * 1000.0, error=str(exc))
        assert analysis is not None
        self.analyses.append(analysis)
        from asalee_devices.messages.ecg import notes_text, quality_messages

        messages = list(quality_messages(analysis.quality, self.lang)) + list(notes_text(analysis.notes, self.lang))
        if rec.interrupted:
            messages.insert(0, _INTERRUPTED[self.lang])
        acceptable = analysis.quality.acceptable and not rec.interrupted
        if acceptable:
            self.kept = number - 1
        return CaptureFeedback(number, analysis, acceptable, (_ACCEPTABLE if acceptable else _RETAKE)[self.lang],
                               tuple(messages), analysis.heart_rate_bpm, (time.perf_counter() - t0) * 1000.0)

    def keep(self, number: int) -> None:
        """The nurse's choice of the capture sent to the GP (1-based), even if retake was advised."""
        if not 1 <= number <= len(self.captures) or self.analyses[number - 1] is None:
            raise AsaleeError("No analysable capture with this number", field="capture", value=number,
                              expected=f"1-{len(self.captures)}, an analysed capture")
        self.kept = number - 1

    @property
    def kept_analysis(self) -> EcgAnalysis | None:
        """The capture that goes to the GP: the nurse's choice, else the last acceptable one, else None."""
        if self.kept is None:
            return None
        return self.analyses[self.kept]
