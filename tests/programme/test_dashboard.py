"""The monthly dashboard: every figure recomputed here, independently (plain Python over the stored examinations'
results.json / programme.json and the outbox's rows), equals the dashboard's; the PDF shows them."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import statistics
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asalee_devices.cli._record import with_output
from asalee_devices.cli.main import main
from asalee_devices.config import Config
from asalee_devices.programme.dashboard import LABELS, dashboard_for


def _stored(out: Path) -> list[dict[str, Any]]:
    exams = []
    for folder in sorted((out / "recordings").iterdir()):
        if not (folder / "results.json").is_file():
            continue
        manifest = json.loads((folder / "exam.json").read_text(encoding="utf-8"))
        exams.append({"manifest": manifest, "results": json.loads((folder / "results.json").read_text("utf-8")),
                      "programme": json.loads((folder / "programme.json").read_text("utf-8"))})
    return exams


def _outbox(out: Path) -> list[tuple[str, str, str, float]]:
    db = sqlite3.connect(out / "outbox.sqlite3")
    try:
        return db.execute("SELECT exam_id, kind, state, created_at FROM messages").fetchall()
    finally:
        db.close()


def expected(exams: list[dict[str, Any]], outbox: list[tuple[str, str, str, float]]) -> dict[str, float | None]:
    """Every indicator of one scope, computed without DuckDB or the indicators store."""
    e: dict[str, float | None] = {}
    spiro = [x for x in exams if x["manifest"]["kind"] == "spirometry"]
    ecg = [x for x in exams if x["manifest"]["kind"] == "ecg"]
    sessions = [x["results"]["phases"]["pre"]["session"] for x in spiro]
    blows = [b for s in sessions if s for b in s["blows"]]
    e["exams"] = len(exams)
    e["spirometry_sessions"] = len(spiro)
    for p in ("fev1", "fvc"):
        for g in "ABC":
            e[f"grade_{p}_{g}"] = sum(1 for s in sessions if s and s[f"grade_{p}"] == g)
    e["blows"] = sum(x["results"]["phases"]["pre"]["blows"] for x in spiro)
    e["acceptable_fev1_blows"] = sum(1 for b in blows if b["acceptability"]["acceptable_fev1"])
    e["acceptable_fev1_rate"] = 100.0 * e["acceptable_fev1_blows"] / e["blows"] if e["blows"] else None
    below = 0
    for x in spiro:
        lln = next(p["lln"] for p in x["results"]["phases"]["pre"]["parameters"] if p["name"] == "fev1_fvc")
        below += x["results"]["phases"]["pre"]["session"]["fev1_fvc"] < lln
    e["below_lln_sessions"] = below
    recorded = [x for x in spiro if "calibration" in x["manifest"]]  # the device's state that day, when recorded
    e["calibration_days"] = len({x["manifest"]["performed_at"][:10] for x in recorded
                                 if x["manifest"]["calibration"]["verified_that_day"]}) if recorded else None
    e["spirometry_days"] = len({x["manifest"]["performed_at"][:10] for x in spiro})
    e["ecg_exams"] = len(ecg)
    first_ok = sum(1 for x in ecg if x["results"]["captures"][0]["verdict"] == "acceptable")
    e["ecg_first_acceptable"] = first_ok
    e["ecg_first_acceptable_rate"] = 100.0 * first_ok / len(ecg) if ecg else None
    e["ecg_retakes"] = sum(len(x["results"]["captures"]) - 1 for x in ecg)
    read = {m[0]: m[3] for m in outbox if m[1].startswith("ecg-interpretation")}
    e["ecg_awaiting_gp"] = sum(1 for x in ecg if x["manifest"]["exam_id"] not in read)
    from datetime import datetime

    delays = [(read[x["manifest"]["exam_id"]] - datetime.fromisoformat(x["manifest"]["performed_at"]).timestamp())
              / 3600 for x in ecg if x["manifest"]["exam_id"] in read]
    e["ecg_gp_delay_median_h"] = statistics.median(delays) if delays else None
    states: dict[str, list[str]] = {}
    for exam_id, kind, state, _ in outbox:
        if kind in ("spirometry", "spirometry-post", "ecg"):
            states.setdefault(exam_id.removesuffix("-post"), []).append(state)
    status = {k: "failed" if "failed" in v else "sent" if set(v) == {"acknowledged"} else "waiting"
              for k, v in states.items()}
    ids = [x["manifest"]["exam_id"] for x in exams]
    e["delivery_waiting"] = sum(1 for i in ids if status.get(i, "waiting") == "waiting")
    e["delivery_failed"] = sum(1 for i in ids if status.get(i) == "failed")
    for code, n in Counter(x["programme"]["protocol"] for x in exams).items():
        e[f"protocol:{code}"] = n
    reasons = Counter(r for b in blows if not b["acceptability"]["acceptable_fev1"]
                      for r in b["acceptability"]["reasons"])
    for code, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3]:
        e[f"failure_reason:{code}"] = n
    leads = Counter(f["lead"] for x in ecg for c in x["results"]["captures"] if c
                    for f in c["quality"]["findings"] if f["code"] == "lead_off")
    for lead, n in leads.items():
        e[f"electrode_off:{lead}"] = n
    return e


@pytest.fixture()
def practice_copy(practice_month: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(practice_month, out)
    return out


def test_every_indicator_equals_an_independent_computation(practice_copy: Path) -> None:
    out = practice_copy
    # one ECG read by the GP, one examination refused by the record: the delivery and reading figures move
    db = sqlite3.connect(out / "outbox.sqlite3")
    ecg_id = db.execute("SELECT exam_id FROM messages WHERE kind = 'ecg' ORDER BY id LIMIT 1").fetchone()[0]
    db.execute("INSERT INTO messages (exam_id, kind, sink, performed_on, payload, state, created_at, updated_at) "
               "SELECT exam_id, 'ecg-interpretation', sink, performed_on, payload, 'acknowledged', created_at + 5400, "
               "created_at FROM messages WHERE exam_id = ? AND kind = 'ecg'", (ecg_id,))
    db.execute("UPDATE messages SET state = 'failed' WHERE kind = 'spirometry' AND id = "
               "(SELECT max(id) FROM messages WHERE kind = 'spirometry')")
    db.commit()
    db.close()
    cfg = with_output(Config(), out)
    exams, outbox = _stored(out), _outbox(out)
    month = exams[0]["manifest"]["performed_at"][:7]
    d = dashboard_for(cfg, month=month)
    checked = 0
    for scope, field in (("practice", "practice_id"), ("nurse", "nurse_code"), ("gp", "gp_code")):
        groups: dict[str, list[dict[str, Any]]] = {}
        for x in exams:
            groups.setdefault(x["programme"][field], []).append(x)
        assert d.scope_ids(scope) == sorted(groups)
        for sid, members in groups.items():
            want = expected(members, outbox)
            got = {i.key: i.value for i in d.of(scope, sid)}
            assert set(got) == set(want), (scope, set(got) ^ set(want))
            for key, value in want.items():
                assert got[key] == (pytest.approx(value) if value is not None else None), (scope, key)
                checked += 1
    assert checked >= 3 * len(LABELS)
    assert d.value("practice", "cabinet", "delivery_failed") == 1
    assert d.value("practice", "cabinet", "ecg_awaiting_gp") == 1
    assert d.value("practice", "cabinet", "ecg_gp_delay_median_h") is not None


def test_dashboard_cli_writes_pdf_and_csv_that_show_the_figures(practice_copy: Path, tmp_path: Path) -> None:
    out = practice_copy
    month = _stored(out)[0]["manifest"]["performed_at"][:7]
    assert main(["dashboard", "--data", str(out), "--out", str(tmp_path / "d"), "--month", month]) == 0
    pdf = tmp_path / "d" / f"tableau-de-bord-cabinet-{month}.pdf"
    csv_text = (tmp_path / "d" / f"tableau-de-bord-cabinet-{month}.csv").read_text(encoding="utf-8")
    d = dashboard_for(with_output(Config(), out), month=month)
    assert f"practice;cabinet;exams;Examens;{float(d.value('practice', 'cabinet', 'exams'))!r}" in csv_text
    # one day with a syringe verification, then a session that day
    assert re.search(rf"^{month};cabinet;practice;cabinet;calibration_days;[^;]*;1\.0;", csv_text, re.M)
    import pdfplumber

    with pdfplumber.open(pdf) as doc:
        text = "\n".join(p.extract_text() or "" for p in doc.pages)
    assert "Tableau de bord ASALEE" in text and "Suivi du diabète de type 2" in text
    assert f"Taux d'essais acceptables (VEMS) {d.value('practice', 'cabinet', 'acceptable_fev1_rate'):.1f} %".replace(
        ".", ",") in text
    assert "Séances avec VEMS/CVF mesuré sous la LIN" in text
    for name in ("TESTPATIENT", "TESTAUTRE", "279035121518989"):
        assert name not in text and name not in csv_text
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True)
        assert (tmp_path / "page-1.png").stat().st_size > 10_000


def test_dashboard_of_an_empty_month_and_bad_month(tmp_path: Path) -> None:
    cfg = with_output(Config(), tmp_path)
    d = dashboard_for(cfg, month="2026-01")
    assert d.of("practice", "cabinet") == [] and len(d.of("trend", "cabinet")) == 18
    assert main(["dashboard", "--data", str(tmp_path), "--out", str(tmp_path / "d"), "--month", "2026-01"]) == 0
    assert main(["dashboard", "--data", str(tmp_path), "--month", "26-1"]) == 2


def test_rebuild_restores_a_lost_store(practice_copy: Path, tmp_path: Path) -> None:
    out = practice_copy
    month = _stored(out)[0]["manifest"]["performed_at"][:7]
    before = dashboard_for(with_output(Config(), out), month=month)
    shutil.rmtree(out / "indicators")
    assert main(["dashboard", "--data", str(out), "--out", str(tmp_path / "d"), "--rebuild", "--month", month]) == 0
    after = dashboard_for(with_output(Config(), out), month=month)
    assert [(i.scope, i.scope_id, i.key, i.value) for i in after.indicators] == [
        (i.scope, i.scope_id, i.key, i.value) for i in before.indicators]
