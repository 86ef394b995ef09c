"""The GP page in Chromium (Debian's /usr/bin/chromium, see test_web_browser.py) at the two screen sizes of the
practice, 1366x768 (laptop) and 1024x768 (tablet): no horizontal scroll of the page, French dates, the amplitude
caliper reading 1.00 mV for a 10-mm drag on the first try (no layout shift mid-drag), coded statements picked from
the list, saving version 1, reopening and amending it as version 2 (the report ``amended``, its PDF carrying the
amended text). Screenshots: ``test-artifacts/web/gp-*.png``; the interpreted PDFs rendered to PNG beside them."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pdfplumber
import pytest
from tests.fhir.frcore_rules import violations
from tests.fhir_test_server import FhirTestServer
from tests.web.test_web_browser import ARTIFACTS, CSS_PX_PER_MM, browser, open_app  # noqa: F401
from tests.web.webfixtures import PATIENT, RunningServer, make_config

from asalee_devices.config import SinkConfig

Serve = Callable[..., RunningServer]
SIZES = ((1366, 768), (1024, 768))
SINUS = "http://snomed.info/sct|426783006"
LVH = "http://snomed.info/sct|164873001"


def _shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _pdf_text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return " ".join(" ".join((p.extract_text() or "").split()) for p in doc.pages)


def _pdf_png(pdf: bytes, name: str) -> None:
    if shutil.which("pdftoppm") is None:
        return
    src = ARTIFACTS / f"{name}.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(src), str(ARTIFACTS / name)], check=True,
                   timeout=60)


def _no_horizontal_scroll(page: Any) -> tuple[int, int]:
    sw, cw = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    return int(sw), int(cw)


def _sent_ecg(rs: RunningServer) -> str:
    with httpx.Client(base_url=rs.base_url, headers={"X-Asalee-Token": rs.token}, timeout=30) as api:
        assert api.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = str(api.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"])
        assert api.post(f"/api/exams/{eid}/capture", json={"sim": "good"}).status_code == 202
        deadline = time.monotonic() + 20
        while api.get(f"/api/exams/{eid}").json()["exam"]["busy"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert api.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]["status"] == "sent"
    return eid


def _amplitude_drag(page: Any) -> tuple[float, float]:
    """A 10-mm vertical drag with the amplitude caliper at 10 mm/mV; (value read, canvas shift in px)."""
    page.check("input[name=caliper][value=amplitude]")
    page.locator("#gp-canvas").scroll_into_view_if_needed()
    before = page.locator("#gp-canvas").bounding_box()
    x, y = before["x"] + 60 * CSS_PX_PER_MM, before["y"] + 40 * CSS_PX_PER_MM
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 5 * CSS_PX_PER_MM, steps=3)
    mid = page.locator("#gp-canvas").bounding_box()
    page.mouse.move(x, y + 10 * CSS_PX_PER_MM, steps=3)
    page.mouse.up()
    value = float(page.get_attribute("#caliper-readout", "data-value") or "nan")
    return value, abs(mid["y"] - before["y"])


def test_gp_page_at_1366_and_1024_interpret_then_amend(browser: Any, serve: Serve, tmp_path: Path) -> None:  # noqa: F811
    fhir = FhirTestServer().start()
    try:
        cfg = make_config(tmp_path, sink=SinkConfig(type="fhir", base_url=fhir.base_url))
        rs = serve(cfg, tmp_path / "data", ecg_speed=4.0)
        eid = _sent_ecg(rs)
        text1 = "Rythme sinusal régulier, axe normal, pas d'anomalie de la repolarisation."
        text2 = "Rythme sinusal ; critères électriques d'hypertrophie ventriculaire gauche (avis corrigé)."
        for width, height in SIZES:
            ctx = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR", bypass_csp=True)
            page = ctx.new_page()
            try:
                open_app(page, rs)
                page.click("#nav button[data-page=gp]")
                first = width == SIZES[0][0]
                button = f"#gp-list button[data-exam='{eid}']" if first else f"#gp-done button[data-reopen='{eid}']"
                if not first:
                    page.click("#gp-done-box summary")
                page.click(button)
                page.wait_for_selector("#gp-reader:not([hidden])")
                header = page.inner_text("#gp-header")
                listed = page.inner_text("#page-gp")
                print(f"\n{width}x{height}: header {header!r}")
                assert re.search(r"née le 14/03/1979 — enregistré le \d{2}/\d{2}/\d{4} \d{2}:\d{2}$", header), header
                assert not re.search(r"\d{4}-\d{2}-\d{2}", listed)  # no ISO date anywhere on the page
                value, shift = _amplitude_drag(page)
                print(f"{width}x{height}: amplitude caliper, 10-mm drag at 10 mm/mV -> {value:.3f} mV "
                      f"(readout {page.inner_text('#caliper-readout')!r}), canvas moved {shift:.1f} px mid-drag")
                assert value == pytest.approx(1.0, abs=0.02) and shift == 0
                sw, cw = _no_horizontal_scroll(page)
                print(f"{width}x{height}: page scrollWidth {sw} / clientWidth {cw}")
                assert sw <= cw
                if first:
                    _shot(page, f"gp-{width}-reader")
                    page.check(f"#gp-statement-groups input[value='{SINUS}']")
                    assert page.inner_text("#gp-chosen") == "Rythme sinusal"
                    page.fill("#gp-text", text1)
                    page.click("#gp-save")
                    page.wait_for_selector("#gp-status[data-status=sent][data-version='1']")
                    assert "version 2" in page.inner_text("#gp-save").lower()  # the next save amends
                    _shot(page, f"gp-{width}-saved-v1")
                    (rep,) = fhir.store["DiagnosticReport"].values()
                    assert rep["status"] == "final" and rep["conclusion"] == text1
                    pdf1 = base64.b64decode(rep["presentedForm"][0]["data"])
                    assert " ".join(text1.split()) in _pdf_text(pdf1) and "version 1" in _pdf_text(pdf1)
                    _pdf_png(pdf1, "gp-interpreted-v1")
                else:
                    # reopened: the saved interpretation is shown, amended, saved as version 2
                    assert page.input_value("#gp-text") == text1
                    assert page.is_checked(f"#gp-statement-groups input[value='{SINUS}']")
                    assert "Version 1 enregistrée le" in page.inner_text("#gp-version")
                    _shot(page, f"gp-{width}-reopened")
                    page.check(f"#gp-statement-groups input[value='{LVH}']")
                    page.fill("#gp-text", text2)
                    page.click("#gp-save")
                    page.wait_for_selector("#gp-status[data-status=sent][data-version='2']")
                    assert not page.locator("#gp-history").is_hidden()
                    page.click("#gp-history summary")
                    assert text1 in page.inner_text("#gp-versions")
                    sw, cw = _no_horizontal_scroll(page)
                    assert sw <= cw
                    _shot(page, f"gp-{width}-amended-v2")
                    (rep,) = fhir.store["DiagnosticReport"].values()
                    print(f"after the amendment: DiagnosticReport status {rep['status']}, version "
                          f"{rep['meta']['versionId']}, conclusionCode "
                          f"{[c['coding'][0]['code'] for c in rep['conclusionCode']]}")
                    assert rep["status"] == "amended" and rep["meta"]["versionId"] == "3"
                    assert rep["conclusion"] == text2 and fhir.count("DiagnosticReport") == 1
                    pdf2 = base64.b64decode(rep["presentedForm"][0]["data"])
                    shown = _pdf_text(pdf2)
                    assert " ".join(text2.split()) in shown and "version 2" in shown
                    assert "Hypertrophie ventriculaire gauche" in shown
                    _pdf_png(pdf2, "gp-interpreted-v2")
                    bundle = {"entry": [{"fullUrl": f"{t}/{i}", "resource": r}
                                        for t, rs_ in fhir.store.items() for i, r in rs_.items()]}
                    assert violations(bundle) == []
            finally:
                ctx.close()
    finally:
        fhir.stop()
