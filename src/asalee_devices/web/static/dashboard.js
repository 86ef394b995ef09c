"use strict";
// The practice's monthly dashboard: figures from /api/dashboard (computed by the server, shown unchanged), charts
// drawn here on canvas (no library, no CDN).
App.pages.dashboard = {
  month() { return App.el("dash-month").value || new Date().toISOString().slice(0, 7); },
  async show() {
    const input = App.el("dash-month");
    if (!input.value) input.value = new Date().toISOString().slice(0, 7);
    if (!input.dataset.bound) {
      input.dataset.bound = "1";
      input.addEventListener("change", () => App.pages.dashboard.show());
    }
    const month = App.pages.dashboard.month();
    App.el("dash-pdf").href = "/api/dashboard.pdf?month=" + encodeURIComponent(month);
    let r;
    try { r = await App.api("/api/dashboard?month=" + encodeURIComponent(month)); } catch (e) { App.text("dash-status", e.message); return; }
    const d = r.dashboard;
    const practice = (d.scopes.practice[0] || { indicators: [] }).indicators;
    const exams = practice.find((i) => i.key === "exams");
    App.text("dash-status", exams ? (d.practice_name || d.practice_id) + " — " + d.month + " : " + exams.text + App.t("dash.count") : App.t("dash.none"));
    const body = App.el("dash-practice"); body.textContent = "";
    for (const i of practice.filter((x) => !x.key.includes(":"))) {
      const tr = body.insertRow(); tr.dataset.key = i.key;
      tr.insertCell().textContent = i.label; tr.insertCell().textContent = i.text;
    }
    for (const scope of ["nurse", "gp"]) App.pages.dashboard.table(scope, d.scopes[scope]);
    App.pages.dashboard.bars(App.el("dash-protocols"), practice.filter((i) => i.key.startsWith("protocol:")));
    const trend = (d.scopes.trend[0] || { indicators: [] }).indicators;
    App.pages.dashboard.trend(App.el("dash-trend"), trend);
  },
  table(scope, groups) {
    const head = App.el("dash-" + scope + "-head"), body = App.el("dash-" + scope);
    head.textContent = ""; body.textContent = "";
    if (!groups.length) return;
    const hr = head.insertRow(); hr.insertCell().textContent = "";
    for (const g of groups) hr.insertCell().textContent = g.name;
    const keys = []; const labels = {};
    for (const g of groups) for (const i of g.indicators) { if (!(i.key in labels)) { keys.push(i.key); labels[i.key] = i.label; } }
    for (const k of keys) {
      const tr = body.insertRow(); tr.dataset.key = k; tr.insertCell().textContent = labels[k];
      for (const g of groups) { const i = g.indicators.find((x) => x.key === k); tr.insertCell().textContent = i ? i.text : "—"; }
    }
  },
  bars(canvas, items) {
    const c = canvas.getContext("2d"); c.clearRect(0, 0, canvas.width, canvas.height);
    c.font = "13px sans-serif"; c.textBaseline = "middle";
    const top = Math.max(1, ...items.map((i) => i.value || 0));
    items.forEach((i, k) => {
      const y = 20 + k * 40, w = (canvas.width - 260) * (i.value || 0) / top;
      c.fillStyle = "#222"; c.fillText(i.label, 6, y + 12);
      c.fillStyle = "#295d9e"; c.fillRect(240, y, w, 24);
      c.fillStyle = "#222"; c.fillText(i.text, 246 + w, y + 12);
    });
  },
  trend(canvas, items) {
    const c = canvas.getContext("2d"); c.clearRect(0, 0, canvas.width, canvas.height);
    const months = [...new Set(items.map((i) => i.key.split(":").pop()))].sort();
    if (!months.length) return;
    const val = (k, m) => { const i = items.find((x) => x.key === "trend:" + k + ":" + m); return i ? i.value : null; };
    const exams = months.map((m) => val("exams", m) || 0), rates = months.map((m) => val("acceptable_fev1_rate", m));
    const top = Math.max(1, ...exams), h = canvas.height - 50, base = canvas.height - 25, slot = (canvas.width - 20) / months.length;
    c.font = "12px sans-serif"; c.textAlign = "center";
    months.forEach((m, k) => {
      const x = 10 + k * slot, bh = h * exams[k] / top;
      c.fillStyle = "#295d9e"; c.fillRect(x + slot * 0.2, base - bh, slot * 0.6, bh);
      c.fillStyle = "#222"; c.fillText(m, x + slot / 2, base + 14); c.fillText(String(exams[k]), x + slot / 2, base - bh - 6);
    });
    c.strokeStyle = "#2e8c57"; c.fillStyle = "#2e8c57"; c.lineWidth = 2; c.beginPath();
    let started = false;
    rates.forEach((r, k) => {
      if (r === null) return;
      const x = 10 + k * slot + slot / 2, y = base - h * r / 100;
      if (!started) { c.moveTo(x, y); started = true; } else c.lineTo(x, y);
    });
    c.stroke();
    rates.forEach((r, k) => { if (r !== null) { c.beginPath(); c.arc(10 + k * slot + slot / 2, base - h * r / 100, 4, 0, 2 * Math.PI); c.fill(); } });
  },
};
