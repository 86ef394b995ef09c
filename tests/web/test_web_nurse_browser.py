"""Browser tests of the nurse's pages (issue 20): no stale state at a new take, the amplitude caliper without layout
shift, the layout from a 1024x768 tablet to a 1366x768 laptop, French dates and messages, the spirometry overlay,
columns and live coaching, live ECG badges. Same harness as ``test_web_browser`` (Debian's /usr/bin/chromium driven
by Playwright, skipped when absent outside CI); screenshots at 1366x768 and 1024x768 in ``test-artifacts/web/``.

Figures printed (run with ``-s``): end of blow -> blow row on screen, live coaching update latency (bench/README.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.web.test_web_browser import ARTIFACTS, CHROMIUM, CSS_PX_PER_MM, open_app, wait_rows
from tests.web.webfixtures import PATIENT, RunningServer, make_config

Serve = Callable[..., RunningServer]
SIZES = ((1366, 768), (1024, 768))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium not found at /usr/bin/chromium (required in CI: apt-get install chromium)")
        pytest.skip("Debian chromium not found at /usr/bin/chromium (apt-get install chromium / make system-deps)")
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the playwright package is missing (test extra; required in CI)")
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": SIZES[0][0], "height": SIZES[0][1]}, locale="fr-FR",
                              bypass_csp=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def shots(page: Any, name: str) -> None:
    """Full-page screenshots at each tablet / laptop size (the page is left at the first size)."""
    for w, h in (*SIZES[1:], SIZES[0]):
        page.set_viewport_size({"width": w, "height": h})
        page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        page.screenshot(path=str(ARTIFACTS / f"20-{name}-{w}.png"), full_page=True)


def start_patient(page: Any, rs: RunningServer) -> None:
    open_app(page, rs)
    page.click("#patient-save")  # the demonstration patient (INS test identity)
    page.wait_for_selector("#page-spiro:not([hidden])")


#: after each "start" event (a new take), one animation frame later: what the page still shows of the last take
_WATCH_START = """() => { window.afterStart = []; App.eventHandlers.push((m) => { if (m.t !== 'start') return;
  requestAnimationFrame(() => window.afterStart.push({ take: m.take,
    bad: document.querySelectorAll('#lead-badges .badge.bad').length,
    verdict: document.getElementById('ecg-verdict').textContent,
    spiro: document.getElementById('spiro-message').textContent,
    spiroBad: document.getElementById('spiro-message').classList.contains('bad') })); }); }"""


def test_ecg_retake_clears_the_previous_verdict(page: Any, serve: Serve, tmp_path: Path) -> None:
    rs = serve(make_config(tmp_path), tmp_path / "data", ecg_speed=2.0)
    start_patient(page, rs)
    page.click("#nav button[data-page=ecg]")
    page.click("#ecg-new")
    page.wait_for_function("App.session.ecg !== null")
    page.click("#capture-btn")  # scripted: electrode V3 off
    page.wait_for_function("App.session.ecg.captures.length === 1 && !App.session.ecg.busy", timeout=25_000)
    assert page.locator("#lead-badges .badge.bad").count() == 1
    assert "Refaire l'ECG conseillé" in page.inner_text("#ecg-verdict")
    page.evaluate(_WATCH_START)
    # during the whole retake, every live block: the previous capture's badges and verdict are gone
    page.evaluate("""() => { window.during = []; App.blockHandlers.push((m) => { if (m.take !== 1) return;
        window.during.push([document.querySelectorAll('#lead-badges .badge.bad[data-final]').length,
                            document.getElementById('ecg-verdict').textContent]); }); }""")
    page.click("#capture-btn")
    page.wait_for_function("window.afterStart.length === 1")
    after = page.evaluate("window.afterStart[0]")
    print(f"\none frame after the retake's start: {after}")
    assert after["bad"] == 0 and after["verdict"] == ""
    page.wait_for_function("window.during.length > 20")
    shots(page, "ecg-retake-in-progress")
    page.wait_for_function("App.session.ecg.captures.length === 2 && !App.session.ecg.busy", timeout=25_000)
    during = page.evaluate("window.during")
    assert during and all(n == 0 and "conseillé" not in v for n, v in during)
    assert page.locator("#lead-badges .badge.bad").count() == 0 and "acceptable" in page.inner_text("#ecg-verdict")


def test_spirometry_new_blow_after_unplug_clears_the_message(page: Any, serve: Serve, tmp_path: Path) -> None:
    rs = serve(make_config(tmp_path), tmp_path / "data", spirometry_speed=4.0)
    start_patient(page, rs)
    page.click("#spiro-new")
    page.wait_for_function("App.session.spirometry !== null")
    page.select_option("#sim-spiro", "unplug")
    page.click("#blow-btn")
    wait_rows(page, "#blow-table", 1)
    assert "débranché" in page.inner_text("#spiro-message")
    page.evaluate(_WATCH_START)
    page.select_option("#sim-spiro", "good")
    page.click("#blow-btn")
    page.wait_for_function("window.afterStart.length === 1")
    after = page.evaluate("window.afterStart[0]")
    print(f"\none frame after the new blow's start: {after}")
    assert "débranché" not in after["spiro"] and not after["spiroBad"]
    shots(page, "spiro-new-blow-after-unplug")
    wait_rows(page, "#blow-table", 2)


def _sent_ecg(rs: RunningServer) -> str:
    """The nurse's part by API: the test patient, one good capture, sent; the examination id."""
    with httpx.Client(base_url=rs.base_url, headers={"X-Asalee-Token": rs.token}, timeout=30) as api:
        assert api.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid: str = api.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        assert api.post(f"/api/exams/{eid}/capture", json={"sim": "good"}).status_code == 202
        deadline = time.monotonic() + 20
        while api.get(f"/api/exams/{eid}").json()["exam"]["busy"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert api.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]["status"] == "sent"
    return eid


def test_amplitude_caliper_first_drag_reads_true_value(page: Any, serve: Serve, tmp_path: Path) -> None:
    rs = serve(make_config(tmp_path), tmp_path / "data", ecg_speed=4.0)
    eid = _sent_ecg(rs)
    open_app(page, rs)
    page.click("#nav button[data-page=gp]")
    page.click(f"#gp-list button[data-exam='{eid}']")
    page.wait_for_selector("#gp-reader:not([hidden])")
    page.check("input[name=caliper][value=amplitude]")
    page.locator("#gp-canvas").scroll_into_view_if_needed()
    before = page.locator("#gp-canvas").bounding_box()
    px_mm = float(page.evaluate("GP.pxPerMm"))
    x, y = before["x"] + 80 * px_mm, before["y"] + 40 * px_mm
    page.mouse.move(x, y)
    page.mouse.down()  # the very first drag of the page: 10 mm at 10 mm/mV
    page.mouse.move(x, y + 5 * px_mm, steps=3)
    mid = page.locator("#gp-canvas").bounding_box()
    page.mouse.move(x, y + 10 * px_mm, steps=3)
    page.mouse.up()
    shown = float(page.get_attribute("#caliper-readout", "data-value") or "nan")
    print(f"\n10-mm amplitude drag: {page.inner_text('#caliper-readout')!r}; canvas moved "
          f"{mid['y'] - before['y']:.1f} px mid-drag")
    assert mid["y"] == before["y"]
    assert shown == pytest.approx(1.0, abs=0.01) and "1.00 mV" in page.inner_text("#caliper-readout")
    assert px_mm == pytest.approx(CSS_PX_PER_MM)
    shots(page, "gp-amplitude-caliper")


def _run(api: httpx.Client, eid: str, action: str, body: dict[str, Any]) -> None:
    assert api.post(f"/api/exams/{eid}/{action}", json=body).status_code == 202
    deadline = time.monotonic() + 30
    while api.get(f"/api/exams/{eid}").json()["exam"]["busy"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _day_by_api(rs: RunningServer, blows: int = 3) -> None:
    """A morning by API: the test patient, a spirometry (scripted blows) and an ECG with an electrode off."""
    with httpx.Client(base_url=rs.base_url, headers={"X-Asalee-Token": rs.token}, timeout=30) as api:
        assert api.post("/api/patient", json={"patient": {**PATIENT}, "height_cm": 165}).status_code == 201
        sid = api.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        for _ in range(blows):
            _run(api, sid, "blow", {})
        eid = api.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        _run(api, eid, "capture", {})


NURSE_PAGES = ("patient", "devices", "spiro", "ecg", "review", "history", "files")
_OVERFLOW = "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
_NAV_ROWS = "() => new Set([...document.querySelectorAll('#nav button')].map((b) => b.offsetTop)).size"


def test_layout_from_tablet_to_laptop(page: Any, serve: Serve, tmp_path: Path) -> None:
    rs = serve(make_config(tmp_path), tmp_path / "data", spirometry_speed=8.0, ecg_speed=5.0)
    _day_by_api(rs)
    open_app(page, rs)
    widths: dict[str, list[int]] = {}
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        rows = int(page.evaluate(_NAV_ROWS))
        print(f"\n{w}x{h}: navigation on {rows} line(s)")
        if w == 1366:
            assert rows == 1
        for name in (*NURSE_PAGES, "gp", "dashboard"):
            page.click(f"#nav button[data-page={name}]")
            page.wait_for_selector(f"#page-{name}:not([hidden])")
            page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
            sw, cw = page.evaluate(_OVERFLOW)
            widths[f"{name}@{w}"] = [sw, cw]
            page.screenshot(path=str(ARTIFACTS / f"20-layout-{name}-{w}.png"), full_page=True)
    print(f"scrollWidth / clientWidth: {widths}")
    assert all(sw <= cw for k, (sw, cw) in widths.items() if k.split("@")[0] in NURSE_PAGES), widths
    # the ECG: scaled to the page, with true scale (25 mm/s, 10 mm/mV) one click away, scrolling inside its frame
    page.set_viewport_size({"width": 1024, "height": 768})
    page.click("#nav button[data-page=ecg]")
    fit = page.locator("#ecg-live-canvas").bounding_box()
    assert fit["width"] <= 1024 - 2 * 16
    page.check("#ecg-true-scale")
    page.wait_for_function("document.getElementById('ecg-live-canvas').classList.contains('true-scale')")
    px_mm = CSS_PX_PER_MM
    true = page.locator("#ecg-live-canvas").bounding_box()
    g = page.evaluate("Ecg.geometry()")
    print(f"ECG fit {fit['width']:.0f} x {fit['height']:.0f} px; true scale {true['width']:.1f} x "
          f"{true['height']:.1f} px (expected {(10 + 250) * px_mm:.1f} x {240 * px_mm:.1f}); "
          f"{g['pxPerS']:.2f} px/s, {g['pxPerUv'] * 1000:.2f} px/mV")
    assert true["width"] == pytest.approx((10 + 10 * 25) * px_mm, abs=1.0)
    assert g["pxPerS"] == pytest.approx(25 * px_mm) and g["pxPerUv"] * 1000 == pytest.approx(10 * px_mm)
    sw, cw = page.evaluate(_OVERFLOW)
    assert sw <= cw
    shots(page, "ecg-true-scale")
    page.set_viewport_size({"width": 1024, "height": 768})
    page.uncheck("#ecg-true-scale")
    page.wait_for_function("!document.getElementById('ecg-live-canvas').classList.contains('true-scale')")
    assert page.locator("#ecg-live-canvas").bounding_box()["width"] == pytest.approx(fit["width"], abs=1.0)


def test_patient_dates_in_french_and_nir_contradiction(page: Any, serve: Serve, tmp_path: Path) -> None:
    rs = serve(make_config(tmp_path), tmp_path / "data")
    open_app(page, rs)
    page.wait_for_function("document.getElementById('p-family').value !== ''")  # demo identity filled in
    page.fill("#p-birth", "14/03/1980")  # the NIR says 1979
    page.wait_for_selector("#patient-check.invalid")
    msg = page.inner_text("#patient-check")
    print(f"\nbirth year against the NIR: {msg!r}")
    assert "année de naissance" in msg and "Identité valide" not in msg and "(birth_date)" not in msg
    assert page.get_attribute("#p-birth", "aria-invalid") == "true"
    shots(page, "patient-nir-birth-year")
    page.fill("#p-birth", "14/03/1979")
    page.wait_for_selector("#patient-check.valid")
    assert page.get_attribute("#p-birth", "aria-invalid") is None
    page.click("#patient-save")
    page.wait_for_selector("#page-spiro:not([hidden])")
    line = page.inner_text("#page-spiro .patient-line")
    print(f"patient line: {line!r}")
    assert "14/03/1979" in line and "1979-03-14" not in line


_COLOUR = """([id, rgb]) => { const c = document.getElementById(id); const d = c.getContext('2d').getImageData(0, 0,
  c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) { if (Math.abs(d[i] - rgb[0]) < 12 &&
  Math.abs(d[i + 1] - rgb[1]) < 12 && Math.abs(d[i + 2] - rgb[2]) < 12) n++; } return n; }"""
GREEN, GREY = (10, 122, 47), (184, 184, 184)


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def test_spirometry_overlay_columns_and_live_coaching(page: Any, serve: Serve, tmp_path: Path) -> None:
    rs = serve(make_config(tmp_path), tmp_path / "data", spirometry_speed=2.0)
    start_patient(page, rs)
    page.click("#spiro-new")
    page.wait_for_function("App.session.spirometry !== null")
    page.evaluate("""() => { window.rowTimes = []; new MutationObserver(() => {
        const n = document.querySelectorAll('#blow-table tr').length;
        if (n > window.rowTimes.length) window.rowTimes.push(performance.timeOrigin + performance.now()); })
        .observe(document.getElementById('blow-table'), { childList: true }); }""")
    headers = page.inner_text("#page-spiro thead")
    assert "Acceptable VEMS" in headers and "Acceptable CVF" in headers and "VEMS (L)" in headers
    # scripted hesitant start, then an early termination (FEV1 counts, FVC does not), then two good blows; the
    # incentive display on for the last one
    phases: list[list[str]] = []
    coach_ms: list[float] = []
    for n, sim in enumerate(("", "early_termination", "good", "good"), start=1):
        if n == 4:
            page.check("#spiro-incentive-on")
        page.select_option("#sim-spiro", sim)
        page.evaluate("Spiro.coachLog.length = 0")
        page.click("#blow-btn")
        if n == 3:
            page.wait_for_function("document.getElementById('spiro-coach').dataset.phase === 'keep'")
            shots(page, "spiro-coaching-keep-going")
        wait_rows(page, "#blow-table", n)
        log = page.evaluate("Spiro.coachLog")
        phases.append([e["phase"] for e in log])
        coach_ms += [e["shown"] - e["recv"] for e in log if e["recv"] is not None]
        if n == 3:
            keep = [e["text"] for e in log if e["phase"] == "keep"]
            print(f"\nblow 3 coaching: {[e['text'] for e in log]}")
            seconds = [int(t.split("…")[1].strip().split()[0]) for t in keep]
            assert seconds == list(range(seconds[0], seconds[0] + len(seconds))) and seconds[-1] >= 2
        if n == 4:
            volume = float(page.get_attribute("#spiro-incentive", "data-volume") or "0")
            width = page.evaluate("document.querySelector('#spiro-incentive span').style.width")
            print(f"incentive after blow 4: {volume} L exhaled, bar {width}")
            assert volume > 1.0 and float(width.rstrip("%")) > 20
    for seq in phases[2:]:  # good blows: inspire fully, blast, keep going, stop, in that order
        order = [p for k, p in enumerate(seq) if k == 0 or p != seq[k - 1]]
        assert order == ["inspire", "blast", "keep", "stop"], seq
    ex = page.evaluate("App.session.spirometry")
    rows = page.locator("#blow-table tr")
    for k, b in enumerate(ex["blows"]):
        fev1 = rows.nth(k).locator("td[data-col=acc-fev1]").inner_text()
        fvc = rows.nth(k).locator("td[data-col=acc-fvc]").inner_text()
        print(f"blow {b['number']}: FEV1 {fev1!r} FVC {fvc!r} best {b['best']}")
        assert (fev1 == "oui") == b["acceptable_fev1"] and (fvc == "oui") == b["acceptable_fvc"]
    early = ex["blows"][1]
    assert early["acceptable_fev1"] and not early["acceptable_fvc"]  # counts toward the FEV1 grade, not FVC
    best = [b for b in ex["blows"] if b["best"]]
    assert len(best) == 1 and rows.nth(best[0]["index"] - 1).get_attribute("data-best") == "1"
    page.wait_for_function(f"({_COLOUR})(['fv-canvas', {list(GREEN)}]) > 200")
    green = int(page.evaluate(_COLOUR, ["fv-canvas", list(GREEN)]))
    grey = int(page.evaluate(_COLOUR, ["fv-canvas", list(GREY)]))
    legend = page.inner_text("#spiro-legend")
    print(f"overlay: {green} green (best) / {grey} grey pixels on the flow-volume curve; legend {legend!r}")
    assert grey > 200 and f"meilleur essai (n° {best[0]['number']})" in legend
    shots(page, "spiro-overlay-columns")
    for w, h in SIZES:  # the blow table, now with two acceptability columns, still fits a 1024-px tablet
        page.set_viewport_size({"width": w, "height": h})
        sw, cw = page.evaluate(_OVERFLOW)
        print(f"spirometry page at {w}: scrollWidth {sw}, clientWidth {cw}")
        assert sw <= cw
    # bench (printed, never asserted): end of blow -> its row on screen; flow block -> coaching text on screen
    blocks = [b for b in page.evaluate("App.stats.blocks") if b["kind"] == "flow"]
    last = [max(b["recv"] for b in blocks if b["take"] == k) for k in range(4)]
    row_ms = [r - t for r, t in zip(page.evaluate("window.rowTimes"), last, strict=True)]
    print(f"end of blow -> blow row on screen (ms): {[round(d, 1) for d in row_ms]}; live coaching: flow block "
          f"received -> text painted p50 {_percentile(coach_ms, 50):.1f} ms, p95 {_percentile(coach_ms, 95):.1f}"
          f" ms, max {max(coach_ms):.1f} ms over {len(coach_ms)} updates")


def test_live_lead_badges_during_the_capture(page: Any, serve: Serve, tmp_path: Path) -> None:
    rs = serve(make_config(tmp_path), tmp_path / "data", ecg_speed=1.0)
    start_patient(page, rs)
    page.click("#nav button[data-page=ecg]")
    page.click("#ecg-new")
    page.wait_for_function("App.session.ecg !== null")
    page.evaluate("""() => { window.events = []; App.eventHandlers.push((m) => window.events.push([m.t, m.i || 0,
        document.querySelectorAll('#lead-badges .badge.bad[data-live]').length])); }""")
    page.click("#capture-btn")  # scripted: electrode V3 off
    page.wait_for_selector("#lead-badges .badge.bad[data-live]", timeout=10_000)
    live = page.locator("#lead-badges .badge.bad[data-live]")
    text, at = live.inner_text(), float(page.evaluate("Ecg.last / Ecg.fs"))
    print(f"\nlive badge at {at:.1f} s of the capture: {text!r}")
    assert live.count() == 1 and live.get_attribute("data-lead") == "V3" and "électrode V3" in text
    assert page.locator("#lead-badges .badge.ok[data-live]").count() == 11 and at < 5.0
    shots(page, "ecg-live-badges")
    page.wait_for_function("App.session.ecg.captures.length === 1 && !App.session.ecg.busy", timeout=25_000)
    events = page.evaluate("window.events")
    kinds = [e[0] for e in events]
    first = next(e for e in events if e[0] == "leads")
    print(f"lead reports during the capture: {kinds.count('leads')}, first at sample {first[1]}")
    assert kinds.index("leads") < kinds.index("capture") and kinds.count("leads") >= 15  # every 0.5 s
    assert first[1] <= 600  # the first second (500 Hz), not after the capture
    final = page.locator("#lead-badges .badge.bad[data-final]")
    assert final.count() == 1 and final.get_attribute("data-lead") == "V3"
    assert page.locator("#lead-badges .badge[data-live]").count() == 0
