"""Test inputs for the FHIR tests: a test-INS patient, an exam context, a spirometry session and an ECG analysis
built from a real device file (the ECG analysis itself is constructed by hand: only the mapping is under test)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.fhir_out.context import Calibration, ExamContext, PatientContext, PerformerContext
from asalee_devices.signal.ecg.results import (
    EcgAnalysis,
    EcgQuality,
    HeartRate,
    LeadQuality,
    QualityCode,
    QualityFinding,
    Verdict,
)
from asalee_devices.signal.filters import FilterStep
from asalee_devices.signal.spirometry.reference import Prediction, predict
from asalee_devices.signal.spirometry.session import SessionResult, analyse_session
from asalee_devices.simulators.generators.spirometry import forced_expiration

#: The test INS of the integration reference (key 89 valid), female, born 03/1979, commune 51215.
TEST_INS = "279035121518989"
PDF = b"%PDF-1.4\n% test report\n%%EOF\n"
#: A practice FINESS that cannot be real (there is no department 99).
TEST_FINESS = "999000001"
#: A Luhn-valid SIRET under the SIREN 999000003 (visibly a test number).
TEST_SIRET = "99900000300007"


def patient(**changes: object) -> PatientContext:
    base: dict[str, object] = dict(family="TESTPATIENT", given=("Marie", "Louise"), birth_date=date(1979, 3, 14),
                                   sex="female", ins=TEST_INS, ins_kind="INS-NIR-TEST", identity_qualified=True,
                                   birth_place_cog="51215")
    base.update(changes)
    return PatientContext(**base)  # type: ignore[arg-type]


def exam(exam_id: str = "exam-0001", *, device: DeviceIdentity | None = None, pdf: bytes | None = PDF,
         calibration: Calibration | None = None) -> ExamContext:
    return ExamContext(
        exam_id=exam_id, performed_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        performer=PerformerContext("INFIRMIERE", "Anne", rpps="10000000001"),
        gp=PerformerContext("MEDECIN", "Paul", rpps="10000000002"),
        device=device or DeviceIdentity("Contec", "SP80B", "SN123", "1.2", "contec-spiro"),
        software_version="0.1.0", practice_name="Cabinet de test", practice_finess=TEST_FINESS,
        practice_siret=TEST_SIRET, pdf=pdf, raw_reference="exam-0001.raw", raw_sha256="ab" * 32,
        calibration=calibration, issued_at=datetime(2026, 11, 23, 9, 45, tzinfo=UTC), test_mode=True)


def spiro_session() -> tuple[SessionResult, list[Prediction], object]:
    recs = [forced_expiration(fvc_l=3.5 + 0.03 * i, pef_l_s=7.0, fs_hz=100.0, seed=i) for i in range(3)]
    session = analyse_session(recs, age_years=47)
    preds = [predict(p, sex="female", age_years=47, height_cm=165, equation="gli-global-2022")
             for p in ("fev1", "fvc", "fev1_fvc")]
    best = recs[session.best_test_index if session.best_test_index is not None else 0]
    return session, preds, best


def ecg_analysis(shared_data: Path, name: str = "ecgtoolkit-example/Example.scp") -> EcgAnalysis:
    f = read_ecg_file(shared_data / "ecg" / name)
    raw = f.recording
    cleaned = raw.with_samples(raw.samples_uv.copy(), applied_filters=(
        FilterStep("highpass", "asalee", 0.05, order=2, zero_phase=True, design="Butterworth"),
        FilterStep("notch", "asalee", 50.0, q_factor=30.0, zero_phase=True)))
    finding = QualityFinding(QualityCode.BASELINE_WANDER, "V1", 620.0, 500.0, "uV", blocking=False)
    leads = tuple(LeadQuality(ld, True, 1500.0, 100.0, 0.01, 10.0, 0.0) for ld in raw.leads)
    quality = EcgQuality(Verdict.ACCEPTABLE, leads, (finding,), 50.0)
    r = np.arange(0.4, raw.duration_s, 0.8)
    heart = HeartRate(r_peaks_s=r, rr_ms=np.diff(r) * 1000.0, heart_rate_bpm=75.0, leads_used=("II",))
    return EcgAnalysis(raw=raw, cleaned=cleaned, quality=quality, heart=heart)


#: A child aged 5 (completed years) at the examination date of :func:`exam`, identified by the practice record.
CHILD_BIRTH = date(2021, 5, 10)
CHILD_AGE_YEARS = 5.54


def child_patient() -> PatientContext:
    return patient(family="TESTENFANT", given=("Lou",), birth_date=CHILD_BIRTH, ins=None, identity_qualified=False,
                   birth_place_cog=None, local_id="P-CHILD-1", local_system="urn:oid:1.2.3.4")


def child_spiro_session() -> tuple[SessionResult, list[Prediction], object]:
    """Three child blows from the Table 7 manoeuvre library (restrictive shape, PEF 3 L/s, FVC ~1.2 L, 500 Hz),
    graded with the age <= 6 rules; GLI-2012 predictions including FEV0.75 (published for children aged 3-7)."""
    from tests.spirometry.manoeuvres import Blow, build

    recs = [build(Blow(shape="restrictive", pef_l_s=3.0 + 0.05 * i, fvc_l=1.20 + 0.02 * i, fs_hz=500.0))
            for i in range(3)]
    session = analyse_session(recs, age_years=CHILD_AGE_YEARS)
    preds = [predict(p, sex="female", age_years=CHILD_AGE_YEARS, height_cm=112, equation="gli-2012",
                     ethnicity="caucasian") for p in ("fev1", "fvc", "fev1_fvc", "fev0_75")]
    best = recs[session.best_test_index if session.best_test_index is not None else 0]
    return session, preds, best


# -- the renderers take the canonical results document: these build it from the hand-made signal objects above,
#    the way workflow/results.py stores it (canonical JSON read back), so the tests exercise the stored shape.

def _stored(doc: dict[str, object]) -> dict[str, object]:
    import json

    from asalee_devices.workflow.results import canonical_json

    return json.loads(canonical_json(doc))  # type: ignore[no-any-return]


def spirometry_doc(session: SessionResult, predictions: object = (), *, equation: str = "gli-global-2022",
                   blow_numbers: list[int] | tuple[int, ...] | None = None, bd_response: object = None,
                   fev0_75: bool = False, phase: str = "pre") -> dict[str, object]:
    """The canonical results of one phase holding ``session``, with the parameters' reference values from
    ``predictions`` (a list or mapping of :class:`Prediction`, computed with ``equation``)."""
    from asalee_devices.canonical import SCHEMA_VERSION
    from asalee_devices.workflow.results import mark_words
    from asalee_devices.workflow.spirometry_exam import REPORTED_PARAMETERS

    preds = dict(predictions) if isinstance(predictions, dict) else {p.parameter: p for p in predictions}  # type: ignore[attr-defined]
    best = session.blows[session.best_test_index] if session.best_test_index is not None else None
    fev6 = [b.indices.fev6_l for b in session.blows if b.acceptability.usable_fev1 and b.indices.fev6_l is not None]
    measured = {"fev1": session.fev1_l, "fvc": session.fvc_l, "fev1_fvc": session.fev1_fvc, "pef": session.pef_l_s,
                "fef25_75": session.fef25_75_l_s, "fev6": max(fev6) if fev6 else None,
                "fet": best.indices.fet_s if best is not None else None, "fev0_75": session.fev0_75_l}
    params = []
    for name, unit, label in REPORTED_PARAMETERS:
        if name == "fev0_75" and not fev0_75:
            continue
        value = measured[name]
        prm: dict[str, object] = {"name": name, "label": label, "unit": unit, "measured": value}
        pr = preds.get(name)
        if pr is not None:
            prm |= {"predicted": float(pr.predicted[0]), "lln": float(pr.lln[0]), "uln": float(pr.uln[0]),
                    "equation": equation}
            if value is not None:
                prm |= {"z_score": float(pr.z_score(value)[0]),
                        "percent_predicted": float(pr.percent_predicted(value)[0])}
        params.append(prm)
    analysed = [n - 1 for n in blow_numbers] if blow_numbers is not None else list(range(len(session.blows)))
    return _stored({"schema_version": SCHEMA_VERSION, "kind": "spirometry", "subject": {"equation": equation},
                    "phases": {phase: {"session": session, "parameters": params, "analysed": analysed,
                                       "marks": mark_words(session, analysed)}},
                    "bronchodilator_response": bd_response})


def spirometry_bundle(exam: ExamContext, patient: PatientContext, session: SessionResult, predictions: object = (),
                      *, equation: str = "gli-global-2022", pre_post: str = "none", best_curve: object = None,
                      bronchodilator: object = None, blow_numbers: list[int] | None = None,
                      bd_response: object = None, fev0_75: bool = False) -> object:
    """:func:`asalee_devices.fhir_out.spirometry_bundle` of the canonical results holding these inputs."""
    from asalee_devices.fhir_out import spirometry_bundle as render
    from asalee_devices.workflow.results import flow_curve

    phase = "post" if bd_response is not None else "pre"
    doc = spirometry_doc(session, predictions, equation=equation, blow_numbers=blow_numbers,
                         bd_response=bd_response, fev0_75=fev0_75, phase=phase)
    return render(exam, patient, doc, phase=phase, pre_post=pre_post,  # type: ignore[arg-type]
                  curve=None if best_curve is None else flow_curve(best_curve),  # type: ignore[arg-type]
                  bronchodilator=bronchodilator)  # type: ignore[arg-type]


def ecg_doc(analysis: EcgAnalysis) -> dict[str, object]:
    """The canonical results of an examination whose kept capture is ``analysis``."""
    from asalee_devices.workflow.results import ecg_file_results

    return _stored(ecg_file_results(analysis, 50.0))


def ecg_bundle(exam: ExamContext, patient: PatientContext, analysis: EcgAnalysis, *, waveform: str = "cleaned",
               file_warnings: tuple[str, ...] = (), lang: str = "fr") -> object:
    """:func:`asalee_devices.fhir_out.ecg_bundle` of the canonical results of ``analysis`` and its trace."""
    from asalee_devices.fhir_out import ecg_bundle as render
    from asalee_devices.workflow.results import ecg_trace

    trace = ecg_trace(analysis.cleaned if waveform == "cleaned" else analysis.raw)
    return render(exam, patient, ecg_doc(analysis), trace, waveform=waveform,  # type: ignore[arg-type]
                  file_warnings=file_warnings, lang=lang)  # type: ignore[arg-type]
