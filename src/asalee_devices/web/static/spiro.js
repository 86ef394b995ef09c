"use strict";
// Spirometry page: live flow-volume and volume-time curves drawn as blocks arrive, the blow table with the nurse
// message in large type, grade and stopping advice, pre/post bronchodilator, reference values when complete.
(function () {
  const S = { live: { take: null, flow: [], fs: 100 }, pending: false, exam: null };
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

  function draw() {
    S.pending = false;
    const flow = S.live.flow, fs = S.live.fs;
    const vol = new Float64Array(flow.length); let v = 0, vmin = 0, imin = 0;
    for (let i = 0; i < flow.length; i++) { const f = flow[i] === null ? 0 : flow[i]; v += f / fs; vol[i] = v; if (v < vmin) { vmin = v; imin = i; } }
    const fv = App.el("fv-canvas").getContext("2d"), vt = App.el("vt-canvas").getContext("2d");
    const [X1, Y1] = axes(fv, 520, 380, [0, FV.xmax], [FV.ymin, FV.ymax], "V (L)", "F (L/s)");
    const [X2, Y2] = axes(vt, 520, 380, [0, VT.xmax], [VT.ymin, VT.ymax], "t (s)", "V (L)");
    fv.strokeStyle = vt.strokeStyle = "#0b5cad"; fv.lineWidth = vt.lineWidth = 2.5;
    fv.beginPath(); vt.beginPath();
    for (let i = 0; i < flow.length; i++) {  // flow-volume: the whole loop; volume-time: from full inspiration
      const f = flow[i] === null ? 0 : flow[i], x = vol[i] - vmin;
      if (i === 0) fv.moveTo(X1(x), Y1(f)); else fv.lineTo(X1(x), Y1(f));
      if (i === imin) vt.moveTo(X2(0), Y2(x)); else if (i > imin) vt.lineTo(X2((i - imin) / fs), Y2(x));
    }
    fv.stroke(); vt.stroke();
  }
  function schedule() { if (!S.pending) { S.pending = true; requestAnimationFrame(draw); } }

  App.blockHandlers.push((m) => {
    if (m.kind !== "flow" || !S.exam || m.exam !== S.exam.id) return;
    if (m.take !== S.live.take) { S.live = { take: m.take, flow: [], fs: m.fs }; }
    const row = m.s[0];
    for (let k = 0; k < row.length; k++) S.live.flow[m.i0 + k] = row[k];
    App.text("spiro-live", App.t("spiro.recording") + " " + (S.live.flow.length / m.fs).toFixed(1) + " s");
    schedule();
  });
  App.eventHandlers.push(async (m) => {
    if (!S.exam || m.exam !== S.exam.id) return;
    if (m.t === "start" && m.kind === "flow") { S.live = { take: m.take, flow: [], fs: S.live.fs }; clearLast(); App.banner(""); schedule(); }
    if (m.t === "blow" || m.t === "error") {
      App.text("spiro-live", "");
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
      const acc = b.interrupted ? App.t("spiro.interrupted") : App.t(b.acceptable ? "yes" : "no");
      for (const v of [String(b.number), b.phase, f(b.fev1_l, 2), f(b.fvc_l, 2), f(b.pef_l_s, 1), acc, b.messages.join(" ; ")]) tr.insertCell().textContent = v;
      tr.cells[5].className = b.acceptable ? "good" : "bad";
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
    App.text("spiro-grade", ex.grade_fev1 ? App.t("spiro.grade") + " : FEV1 " + ex.grade_fev1 + " / FVC " + ex.grade_fvc : "", "grade");
    App.el("spiro-grade").dataset.grade = ex.grade_fev1 || "";
    const refBlock = App.el("ref-block");
    refBlock.hidden = !ex.complete;
    if (ex.complete) {
      const rt = App.el("ref-table"); rt.textContent = "";
      const pre = ex.phases[0];
      for (const p of pre.parameters) {
        const tr = rt.insertRow();
        const f = (x, d) => (x === null || x === undefined ? "—" : x.toFixed(d));
        for (const v of [p.label + (p.unit ? " (" + p.unit + ")" : ""), f(p.measured, 2), f(p.predicted, 2), f(p.lln, 2), f(p.z_score, 2), f(p.percent_predicted, 0)]) tr.insertCell().textContent = v;
      }
    }
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
      draw();
    },
    update() { render(App.session.spirometry); resumeCurve(App.session.spirometry); },
    show() { schedule(); },
  };
  window.Spiro = S;
})();
