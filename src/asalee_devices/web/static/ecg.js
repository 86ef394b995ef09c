"use strict";
// ECG page: live 12-lead sweep view, per-lead quality badges naming the electrode, the 10-s capture and retake.
(function () {
  const LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"];
  const ELECTRODES = { I: ["RA", "LA"], II: ["RA", "LL"], III: ["LA", "LL"], aVR: ["RA"], aVL: ["LA"], aVF: ["LL"] };
  const E = { take: null, fs: 500, n: 5000, buf: null, last: 0, pending: false, exam: null, drawMs: [] };

  function reset(fs) {
    E.fs = fs; E.n = Math.round(10 * fs); E.buf = LEADS.map(() => new Float32Array(E.n).fill(NaN)); E.last = 0;
  }
  reset(500);

  function draw() {
    const t0 = performance.now();
    drawFrame();
    E.drawMs.push(performance.now() - t0);
    if (E.drawMs.length > 2000) E.drawMs.shift();
  }
  // Fit: the sweep scaled to the page's width (any screen from a 1024-px tablet). True scale ("vraie grandeur"):
  // 25 mm/s and 10 mm/mV on paper-like 1/5 mm grid, using the screen's CSS px per mm set on the GP page (the page
  // scrolls inside its frame, never the whole document).
  const FIT = { w: 1200, h: 720, x0: 40 };
  function geometry() {
    if (!E.trueScale) {
      const plot = FIT.w - FIT.x0 - 10;
      return { w: FIT.w, h: FIT.h, x0: FIT.x0, rowH: FIT.h / 12, pxPerS: plot / 10, pxPerUv: 0.03, pxmm: 0, dpr: 1 };
    }
    const pxmm = Number(localStorage.getItem("asalee.pxPerMm")) || 96 / 25.4, x0 = 10 * pxmm;
    return { w: x0 + 10 * 25 * pxmm, h: 12 * 20 * pxmm, x0, rowH: 20 * pxmm, pxPerS: 25 * pxmm,
      pxPerUv: 10 * pxmm / 1000, pxmm, dpr: window.devicePixelRatio || 1 };
  }
  E.geometry = geometry;
  function drawFrame() {
    E.pending = false;
    const c = App.el("ecg-live-canvas"), g = geometry();
    const bw = Math.round(g.w * g.dpr), bh = Math.round(g.h * g.dpr);
    if (c.width !== bw || c.height !== bh) { c.width = bw; c.height = bh; }
    c.style.width = E.trueScale ? g.w + "px" : ""; c.style.height = E.trueScale ? g.h + "px" : "";
    c.classList.toggle("true-scale", !!E.trueScale);
    const ctx = c.getContext("2d"), w = g.w, h = g.h, rowH = g.rowH;
    ctx.setTransform(g.dpr, 0, 0, g.dpr, 0, 0);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    if (E.trueScale) {
      for (let mm = 0; mm * g.pxmm <= w; mm++) {
        ctx.strokeStyle = mm % 5 ? "#f7d4d4" : "#e59a9a"; ctx.lineWidth = mm % 5 ? 0.5 : 1;
        ctx.beginPath(); ctx.moveTo(mm * g.pxmm, 0); ctx.lineTo(mm * g.pxmm, h); ctx.stroke();
      }
      for (let mm = 0; mm * g.pxmm <= h; mm++) {
        ctx.strokeStyle = mm % 5 ? "#f7d4d4" : "#e59a9a"; ctx.lineWidth = mm % 5 ? 0.5 : 1;
        ctx.beginPath(); ctx.moveTo(0, mm * g.pxmm); ctx.lineTo(w, mm * g.pxmm); ctx.stroke();
      }
    } else {
      ctx.strokeStyle = "#f3d0d0"; ctx.lineWidth = 1;
      for (let s = 0; s <= 10; s++) { const x = g.x0 + s * g.pxPerS; ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke(); }
    }
    ctx.font = "14px sans-serif"; ctx.fillStyle = "#333";
    const step = Math.max(1, Math.floor(E.n / (10 * g.pxPerS)));
    const head = E.last % E.n;
    for (let k = 0; k < 12; k++) {
      const y0 = rowH * (k + 0.5), b = E.buf[k];
      ctx.fillText(LEADS[k], 4, y0 + 4);
      ctx.strokeStyle = "#111"; ctx.lineWidth = 1.2; ctx.beginPath();
      let pen = false;
      for (let i = 0; i < E.n; i += step) {
        const v = b[i];
        if (Number.isNaN(v) || (i > head && i < head + E.fs * 0.1)) { pen = false; continue; }
        const x = g.x0 + i / E.fs * g.pxPerS, y = y0 - v * g.pxPerUv;
        if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
      }
      ctx.stroke();
    }
  }
  function schedule() { if (!E.pending) { E.pending = true; requestAnimationFrame(draw); } }

  App.blockHandlers.push((m) => {
    if (m.kind !== "ecg" || !E.exam || m.exam !== E.exam.id) return;
    if (m.take !== E.take || m.fs !== E.fs) { E.take = m.take; reset(m.fs); }
    for (let c = 0; c < m.ch.length; c++) {
      const k = LEADS.indexOf(m.ch[c]); if (k < 0) continue;
      const row = m.s[c], b = E.buf[k];
      for (let j = 0; j < row.length; j++) b[(m.i0 + j) % E.n] = row[j] === null ? NaN : row[j];
    }
    E.last = m.i0 + m.n;
    App.text("ecg-live", App.t("ecg.recording") + " " + (E.last / m.fs).toFixed(1) + " s");
    schedule();
  });
  // a new take: the previous capture's verdict, messages and badges go at once (never shown over the new trace)
  function clearVerdict() {
    App.el("lead-badges").textContent = "";
    App.text("ecg-verdict", "", "huge"); App.el("ecg-messages").textContent = "";
  }
  App.eventHandlers.push(async (m) => {
    if (!E.exam || m.exam !== E.exam.id) return;
    if (m.t === "start" && m.kind === "ecg") { E.take = m.take; E.liveTake = m.take; reset(E.fs); clearVerdict(); App.banner(""); schedule(); }
    if (m.t === "leads" && m.take === E.liveTake) liveBadges(m);
    if (m.t === "capture" || m.t === "error") {
      E.liveTake = null;
      App.text("ecg-live", "");
      if (m.t === "error") App.banner(m.message);
      await App.refresh();
    }
  });

  // one badge per lead; live ones (during the capture, from the last second) are marked data-live, the capture's
  // analysis data-final
  function badge(lq, kind) {
    const s = document.createElement("span");
    s.className = "badge " + (lq.ok ? "ok" : "bad") + (kind === "live" ? " live" : ""); s.dataset.lead = lq.lead; s.dataset.code = lq.code || "";
    s.dataset[kind] = "1";
    s.textContent = lq.ok ? lq.lead + " " + App.t("ecg.ok") : lq.lead + " — " + (lq.code === "flat" ? App.t("ecg.flat") : App.t("ecg.electrode") + " " + electrodeText(lq.lead, lq.electrodes));
    if (lq.message) s.title = lq.message;
    s.setAttribute("role", "status");
    return s;
  }
  function liveBadges(m) {
    const t0 = performance.now();
    const el = App.el("lead-badges"); el.textContent = "";
    for (const lq of m.leads) el.appendChild(badge(lq, "live"));
    E.liveLog = E.liveLog || [];
    E.liveLog.push({ take: m.take, i: m.i, bad: m.leads.filter((l) => !l.ok).map((l) => l.lead), ms: performance.now() - t0 });
  }

  function electrodeText(lead, inferred) {
    // the electrode the analysis inferred from the pattern of affected leads, else the ones the lead uses
    const el = inferred && inferred.length ? inferred : (ELECTRODES[lead] || [lead]);
    return el.map((e) => (App.t("el." + e) !== "el." + e ? App.t("el." + e) : e)).join(" / ");
  }

  function render(ex) {
    E.exam = ex;
    App.el("capture-btn").disabled = !ex || ex.busy || ex.sent;
    const badges = App.el("lead-badges"); if (!ex || !ex.busy) badges.textContent = "";
    const table = App.el("capture-table"); table.textContent = "";
    if (!ex) { App.text("ecg-verdict", ""); App.el("ecg-messages").textContent = ""; return; }
    if (ex.device_error) App.banner(ex.device_error); else App.banner("");
    const last = ex.captures[ex.captures.length - 1];
    App.el("capture-btn").textContent = App.t(last && !last.acceptable ? "ecg.retake" : "ecg.capture");
    for (const c of ex.captures) {
      const tr = table.insertRow();
      tr.insertCell().textContent = String(c.number) + (ex.kept === c.number ? " (" + App.t("ecg.kept") + ")" : "");
      tr.insertCell().textContent = c.verdict;
      tr.insertCell().textContent = c.heart_rate_bpm === null ? "—" : String(c.heart_rate_bpm);
      const td = tr.insertCell();
      if (!c.error && ex.kept !== c.number && !ex.sent) {
        const b = document.createElement("button"); b.type = "button"; b.textContent = App.t("ecg.keep");
        b.addEventListener("click", async () => { await App.api("/api/exams/" + ex.id + "/keep", "POST", { number: c.number }); await App.refresh(); });
        td.appendChild(b);
      }
    }
    if (ex.busy) { App.text("ecg-verdict", "", "huge"); App.el("ecg-messages").textContent = ""; return; }  // a new take: live badges only
    if (!last) { clearVerdict(); return; }
    App.text("ecg-verdict", last.verdict, "huge " + (last.acceptable ? "good" : "bad"));
    const ul = App.el("ecg-messages"); ul.textContent = "";
    for (const msg of last.messages) { const li = document.createElement("li"); li.textContent = msg; ul.appendChild(li); }
    for (const lq of last.leads) badges.appendChild(badge(lq, "final"));
  }

  App.pages.ecg = {
    init() {
      App.el("ecg-new").addEventListener("click", async () => {
        try { await App.api("/api/exams", "POST", { kind: "ecg", protocol: App.el("ecg-protocol").value || undefined }); await App.refresh(); } catch (e) { App.banner(e.message); }
      });
      App.el("capture-btn").addEventListener("click", async () => {
        if (!E.exam) return;
        const sim = App.el("sim-ecg").value;
        try { App.el("capture-btn").disabled = true; clearVerdict(); await App.api("/api/exams/" + E.exam.id + "/capture", "POST", sim ? { sim } : {}); App.text("ecg-live", App.t("ecg.recording")); }
        catch (e) { App.banner(e.message); App.el("capture-btn").disabled = false; }
      });
      App.el("ecg-true-scale").addEventListener("change", (ev) => { E.trueScale = ev.target.checked; schedule(); });
      draw();
    },
    update() { render(App.session.ecg); },
    show() { schedule(); },
  };
  window.Ecg = E;
})();
