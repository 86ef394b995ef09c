"use strict";
// Spirometry page: live flow-volume and volume-time curves drawn as blocks arrive, the blow table with the nurse
// message in large type, grade and stopping advice, pre/post bronchodilator, reference values when complete.
(function () {
  const S = { live: { take: null, flow: [], fs: 100 }, pending: false, exam: null, curves: {}, coach: null,
    coachLog: [] };
  const FV = { xmax: 8, ymin: -6, ymax: 14 }, VT = { xmax: 15, ymin: -1, ymax: 8 };

  function axes(ctx, w, h, xr, yr, xlabel, ylabel) {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#e3e3e3"; ctx.lineWidth = 1;
    const X = (x) => 40 + (x - xr[0]) / (xr[1] - xr[0]) * (w - 50), Y = (y) => h - 30 - (y - yr[0]) / (yr[1] - yr[0]) * (h - 40);
    for (let x = Math.ceil(xr[0]); x <= xr[1]; x++) { ctx.beginPath(); ctx.moveTo(X(x), Y(yr[0])); ctx.lineTo(X(x), Y(yr[1])); ctx.stroke(); }
    for (let y = Math.ceil(yr[0]); y <= yr[1]; y += 2) { ctx.beginPath(); ctx.moveTo(X(xr[0]), Y(y)); ctx.lineTo(X(xr[1]), Y(y)); ctx.stroke(); }
    ctx.strokeStyle = "#555"; ctx.beginPath(); ctx.moveTo(X(xr[0]), Y(0)); ctx.lineTo(X(xr[1]), Y(0)); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(X(Math.max(xr[0], 0)), Y(yr[0])); ctx.lineTo(X(Math.max(xr[0], 0)), Y(yr[1])); ctx.stroke();
    ctx.fillStyle = "#333"; ctx.font = "12px sans-serif";
    for (let x = Math.ceil(xr[0]); x <= xr[1]; x += xr[1] > 10 ? 2 : 1) ctx.fillText(String(x), X(x) - 3, h - 16);
    for (let y = Math.ceil(yr[0] / 2) * 2; y <= yr[1]; y += 2) ctx.fillText(String(y), 22, Y(y) + 4);
    ctx.font = "13px sans-serif"; ctx.fillText(xlabel, w - 45, h - 3); ctx.fillText(ylabel, 44, 14);
    return [X, Y];
  }

  // one curve's points: flow-volume (the whole loop, volume from full inspiration) and volume-time (from full
  // inspiration, the forced blow's start)
  function points(flow, fs) {
    const vol = new Float64Array(flow.length); let v = 0, vmin = 0, imin = 0;
    for (let i = 0; i < flow.length; i++) { const f = flow[i] === null ? 0 : flow[i]; v += f / fs; vol[i] = v; if (v < vmin) { vmin = v; imin = i; } }
    return { flow, fs, vol, vmin, imin };
  }
  function trace(fv, vt, X1, Y1, X2, Y2, c, style, width) {
    fv.strokeStyle = vt.strokeStyle = style; fv.lineWidth = vt.lineWidth = width;
    fv.beginPath(); vt.beginPath();
    for (let i = 0; i < c.flow.length; i++) {
      const f = c.flow[i] === null ? 0 : c.flow[i], x = c.vol[i] - c.vmin;
      if (i === 0) fv.moveTo(X1(x), Y1(f)); else fv.lineTo(X1(x), Y1(f));
      if (i === c.imin) vt.moveTo(X2(0), Y2(x)); else if (i > c.imin) vt.lineTo(X2((i - c.imin) / c.fs), Y2(x));
    }
    fv.stroke(); vt.stroke();
  }
  // the session's blows of the current phase overlaid (grey; the reported blow - largest FEV1 + FVC - in thick
  // green), the blow being recorded (or the last one) in blue on top
  function draw() {
    S.pending = false;
    const fv = App.el("fv-canvas").getContext("2d"), vt = App.el("vt-canvas").getContext("2d");
    const [X1, Y1] = axes(fv, 520, 380, [0, FV.xmax], [FV.ymin, FV.ymax], "V (L)", "F (L/s)");
    const [X2, Y2] = axes(vt, 520, 380, [0, VT.xmax], [VT.ymin, VT.ymax], "t (s)", "V (L)");
    const ex = S.exam, legend = [];
    const shown = ex ? ex.blows.filter((b) => b.phase === ex.phase && S.curves[ex.id + ":" + b.index]) : [];
    for (const b of shown) if (!b.best) trace(fv, vt, X1, Y1, X2, Y2, S.curves[ex.id + ":" + b.index], "#b8b8b8", 1.5);
    if (S.live.flow.length) {
      trace(fv, vt, X1, Y1, X2, Y2, points(S.live.flow, S.live.fs), "#0b5cad", 2.5);
      const lastBest = ex && !ex.busy && ex.blows.length && ex.blows[ex.blows.length - 1].best;
      if (!lastBest) legend.push(App.t(ex && ex.busy ? "spiro.legend_live" : "spiro.legend_last"));
    }
    for (const b of shown) {  // the reported blow on top
      if (!b.best) continue;
      trace(fv, vt, X1, Y1, X2, Y2, S.curves[ex.id + ":" + b.index], "#0a7a2f", 3.5);
      legend.push(App.t("spiro.legend_best").replace("{n}", b.number));
    }
    if (shown.length > 1) legend.push(App.t("spiro.legend_others"));
    App.text("spiro-legend", legend.join(" · "));
  }
  function schedule() { if (!S.pending) { S.pending = true; requestAnimationFrame(draw); } }

  App.blockHandlers.push((m) => {
    if (m.kind !== "flow" || !S.exam || m.exam !== S.exam.id) return;
    if (m.take !== S.live.take) { S.live = { take: m.take, flow: [], fs: m.fs }; }
    const row = m.s[0];
    for (let k = 0; k < row.length; k++) S.live.flow[m.i0 + k] = row[k];
    App.text("spiro-live", App.t("spiro.recording") + " " + (S.live.flow.length / m.fs).toFixed(1) + " s");
    coach(m);
    schedule();
  });

  // Live coaching from the flow itself, with the criteria of the live end-of-blow detection (signal/spirometry/
  // live.py, ATS/ERS 2019 end of forced expiration): inspire fully until the blast starts (flow > 1 L/s), blast
  // until the peak has passed, keep going with the seconds of forced expiration counted until the plateau
  // (< 0.025 L in the last 1 s) or 15 s, then stop.
  const EOFE = { peak: 1.0, volume: 0.5, plateauL: 0.025, plateauS: 1.0, maxS: 15.0 };
  function coachState(flow, fs) {
    let ipef = 0;
    for (let i = 1; i < flow.length; i++) if ((flow[i] || 0) > (flow[ipef] || 0)) ipef = i;
    const pef = flow[ipef] || 0;
    if (pef < EOFE.peak) return { phase: "inspire" };
    let istart = ipef;
    while (istart > 0 && (flow[istart - 1] || 0) > 0) istart--;
    const vol = [0]; let v = 0, vmax = 0;
    for (let i = istart; i < flow.length; i++) { v += (flow[i] || 0) / fs; vmax = Math.max(vmax, v); vol.push(vmax); }
    const fet = (flow.length - istart) / fs, last = flow[flow.length - 1] || 0;
    const win = Math.round(EOFE.plateauS * fs), n = vol.length - 1;
    const plateau = n > win && flow.length - ipef > win && vol[n] - vol[n - win] < EOFE.plateauL && vmax >= EOFE.volume;
    if (plateau || fet >= EOFE.maxS) return { phase: "stop", fet, volume: vmax };
    if (last > 0.8 * pef && flow.length - ipef < 0.3 * fs) return { phase: "blast", fet, volume: vmax };
    return { phase: "keep", fet, volume: vmax };
  }
  function coach(m) {
    if (!S.exam || !S.exam.busy && S.coach === null) return;
    const st = coachState(S.live.flow, S.live.fs);
    const text = st.phase === "keep" ? App.t("coach.keep").replace("{s}", Math.floor(st.fet))
      : App.t("coach." + st.phase);
    const el = App.el("spiro-coach");
    if (el.textContent !== text) {
      el.textContent = text; el.dataset.phase = st.phase;
      const recv = performance.now();
      requestAnimationFrame(() => S.coachLog.push({ phase: st.phase, text, recv: performance.timeOrigin + recv,
        shown: performance.timeOrigin + performance.now(), rx: m.rx }));
      if (S.coachLog.length > 2000) S.coachLog.shift();
    }
    S.coach = st;
    const bar = App.el("spiro-incentive");
    if (st.volume !== undefined) {
      const target = S.target || 4.0;
      bar.querySelector("span").style.width = Math.min(100, 100 * st.volume / target) + "%";
      bar.dataset.volume = st.volume.toFixed(2);
    }
  }
  function coachStart() {
    S.coach = { phase: "inspire" };
    const el = App.el("spiro-coach"); el.textContent = App.t("coach.inspire"); el.dataset.phase = "inspire";
    S.coachLog.push({ phase: "inspire", text: el.textContent, recv: null, shown: null, rx: null });
    App.el("spiro-incentive").querySelector("span").style.width = "0%";
  }
  // the coaching line keeps its place between blows (the curves never move when a blow starts)
  function coachEnd() { S.coach = null; App.el("spiro-coach").textContent = ""; App.el("spiro-coach").dataset.phase = ""; }
  App.eventHandlers.push(async (m) => {
    if (!S.exam || m.exam !== S.exam.id) return;
    if (m.t === "start" && m.kind === "flow") { S.live = { take: m.take, flow: [], fs: S.live.fs }; clearLast(); App.banner(""); coachStart(); schedule(); }
    if (m.t === "blow" || m.t === "error") {
      App.text("spiro-live", ""); coachEnd();
      if (m.t === "error") App.banner(m.message);
      await App.refresh();
    }
  });

  // a new blow: the previous blow's message (an unplug, a fault) goes at once, never shown over the new blow
  function clearLast() { App.text("spiro-message", "", "huge"); }

  const MARKS = ["leak", "obstructed_mouthpiece", "submaximal_effort"];
  async function toggleMark(ex, b, m) {
    const now = new Set(b.marks || []);
    if (now.has(m)) now.delete(m); else now.add(m);
    try { await App.api("/api/exams/" + ex.id + "/blows/" + b.phase + "/" + b.number + "/marks", "POST", { marks: [...now] }); await App.refresh(); }
    catch (e) { App.banner(e.message); }
  }

  function render(ex) {
    S.exam = ex;
    const has = !!ex;
    App.el("blow-btn").disabled = !has || ex.busy || ex.sent;
    App.el("post-btn").disabled = !has || ex.busy || ex.phase === "post" || !ex.blows.length;
    if (!has) { App.text("spiro-message", App.t("spiro.none"), "big"); App.text("spiro-advice", ""); App.text("spiro-grade", ""); App.el("blow-table").textContent = ""; App.el("ref-block").hidden = true; return; }
    if (ex.device_error) App.banner(ex.device_error); else App.banner("");
    const bt = ex.btps || {};
    App.text("amb-status", bt.source === "ambient" ? App.t("spiro.btps_factor") + " " + bt.factor.toFixed(3)
      : bt.source === "device" ? App.t("spiro.btps_device") : App.t("spiro.btps_none"), bt.source === "none" ? "bad" : "");
    if (bt.ambient && document.activeElement.tagName !== "INPUT") {
      App.el("amb-t").value = bt.ambient.temperature_c; App.el("amb-p").value = bt.ambient.pressure_hpa;
      App.el("amb-h").value = bt.ambient.relative_humidity_pct === null ? "" : bt.ambient.relative_humidity_pct;
    }
    App.el("amb-btn").disabled = ex.sent;
    const cal = ex.calibration;
    App.text("spiro-calibration", cal ? cal.note : "", cal && cal.warning ? "big bad" : "");
    App.text("spiro-phase", App.t(ex.phase === "post" ? "spiro.phase_post" : "spiro.phase_pre"));
    const body = App.el("blow-table"); body.textContent = "";
    for (const b of ex.blows) {
      const tr = body.insertRow();
      tr.dataset.acceptable = b.acceptable ? "1" : "0"; tr.dataset.interrupted = b.interrupted ? "1" : "0";
      const f = (x, d) => (x === null || x === undefined ? "—" : x.toFixed(d));
      tr.dataset.best = b.best ? "1" : "0";
      // FEV1 and FVC judged separately (a blow can count for FEV1 only, or be usable only)
      const acc = (ok, usable) => (b.interrupted ? App.t("spiro.interrupted") : App.t(ok ? "yes" : usable ? "spiro.usable" : "no"));
      const num = String(b.number) + (b.best ? " ★" : "");
      for (const v of [num, App.t("spiro.phase_" + b.phase + "_short"), f(b.fev1_l, 2), f(b.fvc_l, 2), f(b.pef_l_s, 1),
        acc(b.acceptable_fev1, b.usable_fev1), acc(b.acceptable_fvc, b.usable_fvc), b.messages.join(" ; ")]) tr.insertCell().textContent = v;
      tr.cells[5].className = b.acceptable_fev1 ? "good" : b.usable_fev1 ? "warn" : "bad"; tr.cells[5].dataset.col = "acc-fev1";
      tr.cells[6].className = b.acceptable_fvc ? "good" : b.usable_fvc ? "warn" : "bad"; tr.cells[6].dataset.col = "acc-fvc";
      if (b.best) tr.cells[0].title = App.t("spiro.best");
      const cell = tr.insertCell(); cell.className = "marks";
      for (const m of MARKS) {  // operator-assessed criteria (ATS/ERS 2019 Table 7): the nurse's observation
        const btn = document.createElement("button");
        const on = (b.marks || []).includes(m);
        btn.type = "button"; btn.className = "mark" + (on ? " on" : ""); btn.dataset.mark = m;
        btn.setAttribute("aria-pressed", on ? "true" : "false");
        btn.textContent = App.t("spiro.mark." + m); btn.disabled = ex.sent || ex.busy || !!b.error;
        btn.addEventListener("click", () => toggleMark(ex, b, m));
        cell.appendChild(btn);
      }
    }
    const last = ex.blows[ex.blows.length - 1];
    if (ex.busy) clearLast();  // a new blow is being recorded
    else if (last) App.text("spiro-message", last.messages.join(" — "), "huge " + (last.acceptable ? "good" : "bad"));
    else App.text("spiro-message", "");
    App.text("spiro-advice", ex.advice, "big" + (ex.stop ? " good" : ""));
    App.text("spiro-grade", ex.grade_fev1 ? App.t("spiro.grade") + " : " + App.t("spiro.fev1") + " " + ex.grade_fev1 + " / " + App.t("spiro.fvc") + " " + ex.grade_fvc : "", "grade");
    const cur = ex.phases.find((p) => p.phase === ex.phase) || ex.phases[0];
    const fvcRef = cur && cur.parameters.find((p) => p.name === "fvc");
    S.target = fvcRef && fvcRef.predicted ? fvcRef.predicted : (cur && cur.fvc_l) || null;  // the incentive's goal
    if (ex.busy && S.coach === null) coachStart(); else if (!ex.busy) coachEnd();
    loadCurves(ex);
    App.el("spiro-grade").dataset.grade = ex.grade_fev1 || "";
    const refBlock = App.el("ref-block");
    refBlock.hidden = !ex.complete;
    if (ex.complete) {
      const rt = App.el("ref-table"); rt.textContent = "";
      const pre = ex.phases[0];
      for (const p of pre.parameters) {
        const tr = rt.insertRow();
        const f = (x, d) => (x === null || x === undefined ? "—" : x.toFixed(d));
        const label = App.t("param." + p.name) !== "param." + p.name ? App.t("param." + p.name) : p.label;
        for (const v of [label + (p.unit ? " (" + p.unit + ")" : ""), f(p.measured, 2), f(p.predicted, 2), f(p.lln, 2), f(p.z_score, 2), f(p.percent_predicted, 0)]) tr.insertCell().textContent = v;
      }
    }
  }

  // the curves of the session's blows (once each), for the overlay
  async function loadCurves(ex) {
    const want = ex.blows.filter((b) => !b.error && !((ex.id + ":" + b.index) in S.curves));
    for (const b of want) {
      const key = ex.id + ":" + b.index;
      S.curves[key] = null;
      try { const r = await App.api("/api/exams/" + ex.id + "/blows/" + b.index + "/curve"); S.curves[key] = points(r.flow_l_s, r.fs_hz); }
      catch (e) { delete S.curves[key]; }
    }
    schedule();
  }

  async function resumeCurve(ex) {
    if (!ex || !ex.blows.length || S.live.flow.length) return;
    const r = await App.api("/api/exams/" + ex.id + "/blows/" + ex.blows.length + "/curve");
    S.live = { take: -1, flow: r.flow_l_s, fs: r.fs_hz }; schedule();
  }

  App.pages.spiro = {
    init() {
      App.el("spiro-new").addEventListener("click", async () => {
        try { await App.api("/api/exams", "POST", { kind: "spirometry", protocol: App.el("spiro-protocol").value || undefined }); S.live = { take: null, flow: [], fs: 100 }; await App.refresh(); }
        catch (e) { App.banner(e.message); }
      });
      App.el("blow-btn").addEventListener("click", async () => {
        if (!S.exam) return;
        const sim = App.el("sim-spiro").value;
        try { App.el("blow-btn").disabled = true; clearLast(); await App.api("/api/exams/" + S.exam.id + "/blow", "POST", sim ? { sim } : {}); App.text("spiro-live", App.t("spiro.recording")); }
        catch (e) { App.banner(e.message); App.el("blow-btn").disabled = false; }
      });
      App.el("amb-btn").addEventListener("click", async () => {
        if (!S.exam) return;
        const num = (id) => (App.el(id).value === "" ? null : Number(App.el(id).value));
        const body = { temperature_c: num("amb-t"), pressure_hpa: num("amb-p") };
        if (num("amb-h") !== null) body.relative_humidity_pct = num("amb-h");
        try { await App.api("/api/exams/" + S.exam.id + "/ambient", "POST", body); await App.refresh(); }
        catch (e) { App.banner(e.message); }
      });
      App.el("post-btn").addEventListener("click", async () => {
        try { await App.api("/api/exams/" + S.exam.id + "/post-bronchodilator", "POST", {}); await App.refresh(); }
        catch (e) { App.banner(e.message); }
      });
      App.el("spiro-incentive-on").addEventListener("change", (ev) => { App.el("spiro-incentive").hidden = !ev.target.checked; });
      draw();
    },
    update() { render(App.session.spirometry); resumeCurve(App.session.spirometry); },
    show() { schedule(); },
  };
  window.Spiro = S;
})();
