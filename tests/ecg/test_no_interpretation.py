"""The package never outputs a rhythm label, an interpretation or a diagnosis: every message, every CLI output
and every JSON document is scanned for such words (English and French)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from tests.ecg.synth import synthetic_ecg
from tests.ecg.test_quality import CASES

from asalee_devices.cli.main import main
from asalee_devices.messages.ecg import OK_MESSAGE, quality_messages, quality_texts, warnings_text
from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.signal.ecg.results import QualityCode

FORBIDDEN = ("sinus", "fibrill", "flutter", "normal", "anormal", "abnormal", "infarct", "ischem", "ischém",
             "tachycard", "bradycard", "block", "bloc", "arrhythm", "arythm", "rhythm", "rythme", "extrasystol",
             "ectopi", "hypertroph", "patholog", "diagnos", "st elevation", "sus-décalage", "qt long", "heart disease",
             "cardiopath", "ventricular", "ventriculaire", "atrial", "auriculaire")
_PATTERN = re.compile("|".join(re.escape(w) for w in FORBIDDEN), re.IGNORECASE)


def _scan(text: str, where: str) -> None:
    m = _PATTERN.search(text)
    assert m is None, f"interpretive word {m.group(0)!r} in {where}: ...{text[max(0, m.start() - 60):m.end() + 60]}..."


def test_every_message_template() -> None:
    codes = ("lead_off", "flat", "saturation", "mains", "baseline_wander", "muscle_noise", "amplitude",
             "inconsistent", "too_short", "no_beats")
    for code in codes:
        for leads in (("V3",), ("I", "II")):
            for text in quality_texts(QualityCode(code), leads, 50.0):
                _scan(text, f"message {code}")
    _scan(OK_MESSAGE["fr"] + OK_MESSAGE["en"], "ok message")


def test_synthetic_faults_outputs() -> None:
    for name, (make, *_rest) in CASES.items():
        a = analyze_ecg(make(synthetic_ecg(500.0, seed=3)))
        text = " ".join(quality_messages(a.quality, "fr") + quality_messages(a.quality, "en") + tuple(warnings_text(a.warnings)))
        text += " ".join(s.describe() for s in a.cleaned.applied_filters)
        _scan(text, f"synthetic {name}")


@pytest.mark.parametrize("name", ["contec-ecg90a/0000037.ECG", "contec-ecg90a/0000053.ECG",
                                  "wfdb/ptb-s0010_re/s0010_re", "wfdb/mitdb-100/100",
                                  "ecgtoolkit-example/Example.scp", "philips-sierra/129DYPRG.XML",
                                  "ge-muse/MUSE_20200923_093504_79000_example.xml",
                                  "mortara-eli250-dicom/waveform_ecg.dcm"])
def test_cli_outputs_on_real_files(shared_data: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    path = str(shared_data / "ecg" / name)
    for argv in (["ecg", "analyze", path], ["ecg", "analyze", path, "--lang", "en"],
                 ["ecg", "analyze", path, "--json"]):
        assert main(argv) == 0
        captured = capsys.readouterr()
        _scan(captured.out + captured.err, " ".join(argv[:2]) + " " + name)


def test_the_scanner_catches_words() -> None:
    for bad in ("Rythme sinusal", "Normal ECG", "possible infarct", "bloc de branche", "Tachycardie"):
        with pytest.raises(AssertionError):
            _scan(bad, "self-test")
    assert np.isfinite(1.0)
