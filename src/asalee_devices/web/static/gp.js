"use strict";
// GP side: "to interpret" and "interpreted" lists, the 12 leads at true scale (25/50 mm/s, 10/20 mm/mV on the
// screen's CSS px per mm, adjustable), time and amplitude calipers (mouse or keyboard), and the GP's interpretation:
// coded statements picked from the practice's list + free text, saved as version 1, reopened and amended as
// version 2, 3... (earlier versions listed, each with its interpreted PDF). Dates in the page's language.
(function () {
  const G = { data: null, pxPerMm: Number(localStorage.getItem("asalee.pxPerMm")) || 96 / 25.4,
    speed: 25, gain: 10, zoom: 1, a: null, b: null, cursor: null, dragging: false, marginMm: 10, statements: null };
  window.GP = G;

  function locale() { return App.lang === "en" ? "en-GB" : "fr-FR"; }
  // a calendar date (birth date, "YYYY-MM-DD"): never shifted by the time zone
  function day(iso) { const [y, m, d] = iso.split("-"); return d + "/" + m + "/" + y; }
  // an instant (ISO with offset) in the browser's local time: 03/12/2026 17:05
  function when(iso) {
    return new Intl.DateTimeFormat(locale(), { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit",
      minute: "2-digit" }).format(new Date(iso)).replace(",", "");
  }
  function fill(key, vars) { let t = App.t(key); for (const [k, v] of Object.entries(vars)) t = t.split("{" + k + "}").join(v); return t; }
  G.fmt = { day, when };

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

  async function loadStatements() {
    if (G.statements && G.statements.lang === App.lang) return;
    const doc = await App.api("/api/gp/statements");
    G.statements = { lang: App.lang, doc };
    const box = App.el("gp-statement-groups"); box.textContent = "";
    for (const g of doc.groups) {
      const div = document.createElement("div");
      const h = document.createElement("h4"); h.textContent = g.label; div.appendChild(h);
      for (const st of g.statements) {
        const lab = document.createElement("label");
        const cb = document.createElement("input"); cb.type = "checkbox"; cb.value = st.key;
        cb.dataset.system = st.system; cb.dataset.code = st.code; cb.dataset.label = st.label; cb.title = st.display;
        cb.addEventListener("change", chosen);
        lab.append(cb, st.label); div.appendChild(lab);
      }
      box.appendChild(div);
    }
  }

  function boxes() { return [...document.querySelectorAll("#gp-statement-groups input[type=checkbox]")]; }
  function chosen() {
    const picked = boxes().filter((b) => b.checked).map((b) => b.dataset.label);
    App.text("gp-chosen", picked.length ? picked.join(" ; ") : App.t("gp.chosen_none"));
  }

  function showVersions() {
    const d = G.data, cur = d.current, n = cur ? cur.version + 1 : 1;
    App.text("gp-version", cur ? fill("gp.version_current", { v: cur.version, when: when(cur.at), n }) : App.t("gp.version_new"));
    App.el("gp-save").textContent = cur ? fill("gp.save_version", { n }) : App.t("gp.save");
    const link = App.el("gp-pdf");
    link.hidden = !(cur && cur.has_pdf);
    link.href = cur ? "/api/gp/ecg/" + d.id + "/interpreted.pdf?version=" + cur.version : "#";
    if (cur) link.textContent = App.t("gp.pdf") + " (version " + cur.version + ")";
    const earlier = (d.versions || []).filter((v) => !cur || v.version !== cur.version).reverse();
    App.el("gp-history").hidden = !earlier.length;
    const ol = App.el("gp-versions"); ol.textContent = "";
    for (const v of earlier) {
      const li = document.createElement("li");
      const head = document.createElement("strong"); head.textContent = fill("gp.version_item", { v: v.version, when: when(v.at) });
      li.append(head, " — " + v.text + " ");
      if (v.has_pdf) {
        const a = document.createElement("a"); a.href = "/api/gp/ecg/" + d.id + "/interpreted.pdf?version=" + v.version;
        a.target = "_blank"; a.rel = "noopener"; a.textContent = "PDF"; li.appendChild(a);
      }
      ol.appendChild(li);
    }
  }

  function clearStatus() { const e = App.el("gp-status"); delete e.dataset.status; delete e.dataset.version; }

  async function open(id) {
    await loadStatements();
    G.data = await App.api("/api/gp/ecg/" + id);
    G.a = G.b = G.cursor = null;
    App.el("gp-reader").hidden = false;
    const d = G.data, p = d.patient;
    const born = App.t(p.sex === "female" ? "gp.born_f" : p.sex === "male" ? "gp.born_m" : "gp.born");
    App.text("gp-header", p.family + " " + p.given + " — " + born + day(p.birth_date) + " — " + App.t("gp.recorded") + when(d.time));
    App.text("gp-quality", App.t("gp.quality") + App.t(d.verdict === "acceptable" ? "gp.acceptable" : "gp.retake") + (d.messages.length ? " — " + d.messages.join(" ; ") : ""), d.verdict === "acceptable" ? "good" : "bad");
    App.text("gp-filters", d.band + " · " + d.fs_hz + " Hz · " + App.t("gp.not_interpreted") + (d.notes.length ? " · " + d.notes.join(" ; ") : ""));
    const cur = d.current;
    App.el("gp-text").value = cur ? cur.text : "";
    const keys = new Set(cur ? cur.codes.map((c) => c.system + "|" + c.code) : []);
    for (const b of boxes()) b.checked = keys.has(b.value);
    // a conclusion made only of the picked statements is not free text: do not repeat it in the text box
    if (cur && cur.codes.length && cur.text === cur.codes.map((c) => c.text).join(" ; ")) App.el("gp-text").value = "";
    chosen(); showVersions();
    App.text("gp-status", ""); clearStatus();
    draw(); readout();
  }
  G.open = open;

  function item(it, label, attr) {
    const li = document.createElement("li");
    const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset[attr] = it.id;
    b.addEventListener("click", () => open(it.id));
    const extra = it.interpreted ? " — " + fill("gp.interpreted_on", { when: when(it.interpreted_at), v: it.version }) : "";
    li.append(b, " " + when(it.time) + " — " + it.patient + " (" + day(it.birth_date) + ")" + extra);
    return li;
  }

  App.pages.gp = {
    async show() {
      const r = await App.api("/api/gp/worklist");
      const ul = App.el("gp-list"); ul.textContent = "";
      if (!r.to_interpret.length) { const li = document.createElement("li"); li.textContent = App.t("gp.empty"); ul.appendChild(li); }
      for (const it of r.to_interpret) ul.appendChild(item(it, App.t("gp.open"), "exam"));
      const done = App.el("gp-done"); done.textContent = "";
      if (!r.interpreted.length) { const li = document.createElement("li"); li.textContent = App.t("gp.done_empty"); done.appendChild(li); }
      for (const it of r.interpreted) done.appendChild(item(it, App.t("gp.reopen"), "reopen"));
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
        const codes = boxes().filter((b) => b.checked).map((b) => ({ system: b.dataset.system, code: b.dataset.code }));
        const text = App.el("gp-text").value;
        clearStatus();
        if (!text.trim() && !codes.length) { App.text("gp-status", App.t("gp.need_something"), "big status-failed"); return; }
        try {
          const id = G.data.id;
          const r = await App.api("/api/gp/ecg/" + id + "/interpretation", "POST", { text, codes });
          G.data = await App.api("/api/gp/ecg/" + id);  // the saved version becomes the current one
          showVersions();
          await App.pages.gp.show();
          // status last: once it says "saved", the whole page shows the new version
          App.text("gp-status", "Version " + r.version + " — " + r.delivery.text + (r.delivery.status !== "sent" && r.delivery.reason ? " — " + r.delivery.reason : ""), "big status-" + r.delivery.status);
          App.el("gp-status").dataset.status = r.delivery.status;
          App.el("gp-status").dataset.version = String(r.version);
        } catch (e) { App.text("gp-status", e.message, "big status-failed"); }
      });
    },
  };
})();
