"use strict";
// GP side: "to interpret" list, the 12 leads at true scale (25/50 mm/s, 10/20 mm/mV on the screen's CSS px per mm,
// adjustable), time and amplitude calipers (mouse or keyboard), and saving the GP's interpretation.
(function () {
  const G = { data: null, pxPerMm: Number(localStorage.getItem("asalee.pxPerMm")) || 96 / 25.4,
    speed: 25, gain: 10, zoom: 1, a: null, b: null, cursor: null, dragging: false, marginMm: 10 };
  window.GP = G;

  function geometry() {
    const pxmm = G.pxPerMm * G.zoom, rowMm = G.gain === 20 ? 50 : 30;
    const d = G.data, dur = d.n_samples / d.fs_hz;
    const x0 = G.marginMm * pxmm;  // left margin holding the 1 mV calibration pulse
    return { pxmm, x0, rowPx: rowMm * pxmm, width: x0 + dur * G.speed * pxmm, height: 12 * rowMm * pxmm,
      pxPerSample: G.speed * pxmm / d.fs_hz, pxPerUv: G.gain * pxmm / 1000 };
  }

  function draw() {
    if (!G.data) return;
    const g = geometry(), c = App.el("gp-canvas"), dpr = window.devicePixelRatio || 1;
    c.style.width = g.width + "px"; c.style.height = g.height + "px";
    c.width = Math.round(g.width * dpr); c.height = Math.round(g.height * dpr);
    const ctx = c.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, g.width, g.height);
    for (let mm = 0; mm * g.pxmm <= g.width; mm++) {
      ctx.strokeStyle = mm % 5 ? "#f7d4d4" : "#e59a9a"; ctx.lineWidth = mm % 5 ? 0.5 : 1;
      ctx.beginPath(); ctx.moveTo(mm * g.pxmm, 0); ctx.lineTo(mm * g.pxmm, g.height); ctx.stroke();
    }
    for (let mm = 0; mm * g.pxmm <= g.height; mm++) {
      ctx.strokeStyle = mm % 5 ? "#f7d4d4" : "#e59a9a"; ctx.lineWidth = mm % 5 ? 0.5 : 1;
      ctx.beginPath(); ctx.moveTo(0, mm * g.pxmm); ctx.lineTo(g.width, mm * g.pxmm); ctx.stroke();
    }
    const d = G.data;
    ctx.font = "14px sans-serif";
    d.leads.forEach((lead, k) => {
      const y0 = g.rowPx * (k + 0.5), row = d.samples_uv[k];
      ctx.fillStyle = "#000"; ctx.fillText(lead, 4, g.rowPx * k + 16);
      ctx.strokeStyle = "#000"; ctx.lineWidth = 1.1; ctx.beginPath();
      const p0 = 2 * g.pxmm, pw = 5 * g.pxmm, ph = 1000 * g.pxPerUv;  // 1 mV pulse, 5 mm wide
      ctx.moveTo(p0 - g.pxmm, y0); ctx.lineTo(p0, y0); ctx.lineTo(p0, y0 - ph); ctx.lineTo(p0 + pw, y0 - ph);
      ctx.lineTo(p0 + pw, y0); ctx.lineTo(p0 + pw + g.pxmm, y0); ctx.stroke();
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (v === null) { pen = false; continue; }
        const x = g.x0 + i * g.pxPerSample, y = y0 - v * g.pxPerUv;
        if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
      }
      ctx.stroke();
    });
    ctx.strokeStyle = "#0b5cad"; ctx.lineWidth = 1.5;
    for (const p of [G.a, G.b, G.cursor]) {
      if (!p) continue;
      ctx.setLineDash(p === G.cursor ? [4, 4] : []);
      ctx.beginPath();
      if (mode() === "time") { ctx.moveTo(g.x0 + p.i * g.pxPerSample, 0); ctx.lineTo(g.x0 + p.i * g.pxPerSample, g.height); }
      else { ctx.moveTo(0, p.y); ctx.lineTo(g.width, p.y); }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  function mode() { const r = document.querySelector('input[name="caliper"]:checked'); return r ? r.value : "time"; }

  function point(ev) {
    const g = geometry(), rect = App.el("gp-canvas").getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    return { i: Math.max(0, Math.min(G.data.n_samples - 1, Math.round((x - g.x0) / g.pxPerSample))), y };
  }

  function readout() {
    if (!G.a || !G.b) { App.text("caliper-readout", ""); return; }
    const g = geometry();
    let text;
    if (mode() === "time") {
      const ms = Math.abs(G.b.i - G.a.i) * 1000 / G.data.fs_hz;
      G.measured = { ms };
      text = "Δt = " + ms.toFixed(0) + " ms" + (ms > 0 ? "  (" + (60000 / ms).toFixed(0) + " /min)" : "");
    } else {
      const mv = Math.abs(G.b.y - G.a.y) / g.pxPerUv / 1000;
      G.measured = { mv };
      text = "ΔV = " + mv.toFixed(2) + " mV";
    }
    App.el("caliper-readout").dataset.value = mode() === "time" ? String(G.measured.ms) : String(G.measured.mv);
    App.text("caliper-readout", text);
  }

  async function open(id) {
    G.data = await App.api("/api/gp/ecg/" + id);
    G.a = G.b = G.cursor = null;
    App.el("gp-reader").hidden = false;
    const d = G.data;
    App.text("gp-header", d.patient.family + " " + d.patient.given + " — " + d.patient.birth_date + " — " + d.time.replace("T", " ").slice(0, 16));
    App.text("gp-quality", App.t("gp.quality") + App.t(d.verdict === "acceptable" ? "gp.acceptable" : "gp.retake") + (d.messages.length ? " — " + d.messages.join(" ; ") : ""), d.verdict === "acceptable" ? "good" : "bad");
    App.text("gp-filters", d.band + " · " + d.fs_hz + " Hz · " + App.t("gp.not_interpreted") + (d.notes.length ? " · " + d.notes.join(" ; ") : ""));
    App.el("gp-text").value = d.interpretation || "";
    App.text("gp-status", "");
    draw(); readout();
  }

  App.pages.gp = {
    async show() {
      const r = await App.api("/api/gp/worklist");
      const ul = App.el("gp-list"); ul.textContent = "";
      if (!r.to_interpret.length) { const li = document.createElement("li"); li.textContent = App.t("gp.empty"); ul.appendChild(li); }
      for (const it of r.to_interpret) {
        const li = document.createElement("li");
        const b = document.createElement("button"); b.type = "button"; b.textContent = App.t("gp.open"); b.dataset.exam = it.id;
        b.addEventListener("click", () => open(it.id));
        li.append(b, " " + it.time.slice(11, 16) + " — " + it.patient + " (" + it.birth_date + ")");
        ul.appendChild(li);
      }
    },
    init() {
      App.el("gp-pxmm").value = G.pxPerMm.toFixed(4);
      for (const [id, key] of [["gp-speed", "speed"], ["gp-gain", "gain"], ["gp-zoom", "zoom"]]) {
        App.el(id).addEventListener("change", () => { G[key] = Number(App.el(id).value); G.a = G.b = null; draw(); readout(); });
      }
      const ruler = () => { App.el("gp-ruler").style.width = (100 * G.pxPerMm) + "px"; };
      ruler();
      App.el("gp-pxmm").addEventListener("change", () => {
        const v = Number(App.el("gp-pxmm").value);
        if (v >= 1 && v <= 20) { G.pxPerMm = v; localStorage.setItem("asalee.pxPerMm", String(v)); ruler(); draw(); readout(); }
      });
      for (const r of document.querySelectorAll('input[name="caliper"]')) r.addEventListener("change", () => { G.a = G.b = null; draw(); readout(); });
      const c = App.el("gp-canvas");
      c.addEventListener("pointerdown", (ev) => { if (!G.data) return; G.a = point(ev); G.b = G.a; G.dragging = true; c.setPointerCapture(ev.pointerId); draw(); readout(); });
      c.addEventListener("pointermove", (ev) => { if (!G.dragging) return; G.b = point(ev); draw(); readout(); });
      c.addEventListener("pointerup", (ev) => { if (!G.dragging) return; G.b = point(ev); G.dragging = false; draw(); readout(); });
      c.addEventListener("keydown", (ev) => {  // keyboard calipers: arrows move, Enter sets the first then the second point
        if (!G.data) return;
        const g = geometry();
        if (!G.cursor) G.cursor = { i: 0, y: g.rowPx / 2 };
        const step = ev.shiftKey ? 10 : 1;
        if (ev.key === "ArrowRight") G.cursor.i = Math.min(G.data.n_samples - 1, G.cursor.i + step);
        else if (ev.key === "ArrowLeft") G.cursor.i = Math.max(0, G.cursor.i - step);
        else if (ev.key === "ArrowDown") G.cursor.y += step;
        else if (ev.key === "ArrowUp") G.cursor.y -= step;
        else if (ev.key === "Enter") { if (!G.a || G.b) { G.a = { ...G.cursor }; G.b = null; } else G.b = { ...G.cursor }; }
        else return;
        ev.preventDefault(); draw(); readout();
      });
      App.el("gp-save").addEventListener("click", async () => {
        if (!G.data) return;
        try {
          const codes = App.el("gp-codes").value.split("\n").map((l) => l.trim()).filter((l) => l).map((l) => {
            const [system, code, ...rest] = l.split("|").map((x) => x.trim());
            return { system: system || "", code: code || "", display: rest.join("|") };
          });
          const r = await App.api("/api/gp/ecg/" + G.data.id + "/interpretation", "POST", { text: App.el("gp-text").value, codes });
          App.text("gp-status", r.delivery.text + (r.delivery.status !== "sent" && r.delivery.reason ? " — " + r.delivery.reason : ""), "big status-" + r.delivery.status);
          App.el("gp-status").dataset.status = r.delivery.status;
        } catch (e) { App.text("gp-status", e.message, "big status-failed"); }
      });
    },
  };
})();
