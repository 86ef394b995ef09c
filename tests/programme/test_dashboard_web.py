"""The "Tableau de bord" page in Chromium (Playwright, Debian's /usr/bin/chromium): the demo's month as the nurse
sees it, every figure of the page equal to the dashboard computed from the store, charts drawn, screenshots in
test-artifacts/web/."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.web.conftest import serve  # noqa: F401  (fixture)
from tests.web.test_web_browser import ARTIFACTS, browser, open_app, page, shot  # noqa: F401  (fixtures)
from tests.web.webfixtures import make_config

from asalee_devices.programme.dashboard import dashboard_for

_PAINTED = """(id) => { const c = document.getElementById(id); const d = c.getContext('2d').getImageData(0, 0,
  c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""


def test_dashboard_page_shows_the_month(page: Any, serve: Any, practice_month: Path, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "practice"
    shutil.copytree(practice_month, data)
    cfg = replace(make_config(tmp_path), outbox=str(data / "outbox.sqlite3"))
    month = next((data / "indicators").glob("month=*")).name.removeprefix("month=")
    d = dashboard_for(cfg, month=month)
    rs = serve(cfg, tmp_path / "web")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_app(page, rs)
    page.click("#nav button[data-page=dashboard]")
    page.fill("#dash-month", month)
    page.dispatch_event("#dash-month", "change")
    page.wait_for_function("document.querySelectorAll('#dash-practice tr').length > 10")
    shown = {r.get_attribute("data-key"): r.locator("td").nth(1).inner_text()
             for r in page.locator("#dash-practice tr").all()}
    practice = {i.key: i for i in d.of("practice", d.practice_id)}
    assert shown == {k: i.text("fr") for k, i in practice.items() if ":" not in k}
    assert shown["calibration_days"] == "1"  # the fixture's syringe verification, then a session that day
    assert page.locator("#dash-nurse-head td").nth(1).inner_text() == "Demo INFIRMIERE"
    nurse_rows = {r.get_attribute("data-key"): r.locator("td").nth(1).inner_text()
                  for r in page.locator("#dash-nurse tr").all()}
    nurse_id = d.scope_ids("nurse")[0]
    assert nurse_rows == {i.key: i.text("fr") for i in d.of("nurse", nurse_id)}
    assert "4 examen(s)" in page.inner_text("#dash-status")
    assert page.evaluate(_PAINTED, "dash-protocols") > 1000 and page.evaluate(_PAINTED, "dash-trend") > 500
    shot(page, "21-dashboard")
    pdf = page.request.get(f"{rs.base_url}/api/dashboard.pdf?month={month}")
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
    page.click("#lang-btn")
    page.wait_for_function("document.getElementById('h-dashboard').textContent === 'Practice dashboard'")
    page.dispatch_event("#dash-month", "change")
    page.wait_for_function("document.getElementById('dash-status').textContent.includes('this month')")
    shot(page, "21-dashboard-en")
    assert (ARTIFACTS / "21-dashboard.png").stat().st_size > 20_000
    assert errors == []
