"use strict";
// Core of the practice app: API calls (token cookie + CSRF header), pages, language, WebSocket, patient, devices,
// review/send and history. Pages register renderers in App.pages; live blocks go to App.onBlock handlers.
const App = {
  lang: "fr", session: null, pages: {}, blockHandlers: [], eventHandlers: [], ws: null,
  stats: { blocks: [] },
  t(key) { const d = window.I18N[App.lang] || window.I18N.fr; return d[key] !== undefined ? d[key] : key; },
  csrf() {
    const m = document.cookie.split("; ").find((c) => c.startsWith("asalee_csrf="));
    return m ? decodeURIComponent(m.split("=")[1]) : "";
  },
  async api(path, method = "GET", body = undefined) {
    const opts = { method, credentials: "same-origin", headers: {} };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = App.csrf();
      opts.body = JSON.stringify(body === undefined ? {} : body);
    }
    const resp = await fetch(path, opts);
    const data = resp.headers.get("content-type", "").includes("json") ? await resp.json() : null;
    if (!resp.ok) {
      const err = new Error((data && data.message) || resp.statusText);
      err.status = resp.status; err.data = data; throw err;
    }
    return data;
  },
  el(id) { return document.getElementById(id); },
  // dates on screen as the nurse writes them: dd/mm/yyyy (the API keeps ISO 8601); "2024-05-02T10:31" -> "02/05/2024 10:31"
  date(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}:\d{2}))?/.exec(iso || "");
    return m ? m[3] + "/" + m[2] + "/" + m[1] + (m[4] ? " " + m[4] : "") : (iso || "");
  },
  text(id, value, cls) { const e = App.el(id); if (!e) return; e.textContent = value || ""; if (cls !== undefined) e.className = cls; },
  banner(msg) { App.text("banner", msg || ""); },
  applyI18n() {
    document.documentElement.lang = App.lang;
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = App.t(e.dataset.i18n);
    App.el("lang-btn").textContent = App.t("lang.other");
  },
  show(page) {
    for (const s of document.querySelectorAll("main .page")) s.hidden = s.id !== "page-" + page;
    for (const b of document.querySelectorAll("#nav button")) {
      if (b.dataset.page === page) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
    }
    App.current = page;
    if (location.hash !== "#" + page) history.replaceState(null, "", "#" + page);
    const r = App.pages[page]; if (r && r.show) r.show();
  },
  async refresh() {
    App.session = await App.api("/api/session");
    App.lang = App.session.lang; App.applyI18n();
    const p = App.session.patient;
    const line = p ? App.t("patient.current") + p.family + " " + p.given + " — " + App.date(p.birth_date) : "";
    for (const e of document.querySelectorAll(".patient-line")) e.textContent = line;
    App.text("patient-current", line);
    for (const k of ["spiro", "ecg"]) {
      const sim = App.session.simulators[k === "spiro" ? "spirometer" : "ecg"];
      const sel = App.el(k === "spiro" ? "sim-spiro" : "sim-ecg");
      sel.parentElement.hidden = !sim;
      if (sel.options.length === 1) {
        for (const c of App.session.sim_choices[k === "spiro" ? "spirometry" : "ecg"]) sel.add(new Option(c, c));
      }
    }
    for (const sel of document.querySelectorAll(".protocol-select")) {  // the nurse's ASALEE protocol
      const pr = App.session.protocols;
      if (!pr || sel.options.length) continue;
      for (const c of pr.choices) sel.add(new Option(c.label, c.code));
      sel.value = pr.default[sel.dataset.kind] || "";
    }
    for (const name of Object.keys(App.pages)) { const r = App.pages[name]; if (r.update) r.update(); }
  },
  connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    App.ws = ws;
    ws.onmessage = (ev) => {
      const recv = performance.timeOrigin + performance.now();
      const m = JSON.parse(ev.data);
      if (m.t === "block") {
        const b = App.stats.blocks;
        b.push({ kind: m.kind, exam: m.exam, take: m.take, i0: m.i0, n: m.n, fs: m.fs, rx: m.rx, pub: m.pub, recv, ch: m.ch.length });
        if (b.length > 20000) b.splice(0, b.length - 20000);
        for (const h of App.blockHandlers) h(m);
      } else {
        for (const h of App.eventHandlers) h(m);
      }
    };
    ws.onopen = () => {  // after a reconnection, events may have been missed: reload the state
      if (App.wasConnected) App.refresh().catch(() => {});
      App.wsOpen = true; App.wasConnected = true;
    };
    ws.onclose = () => { App.wsOpen = false; setTimeout(() => App.connect(), 1000); };
  },
};
window.App = App;

// -- patient ---------------------------------------------------------------------------------------------------
App.pages.patient = {
  mapping() {
    const f = App.el("patient-form");
    const out = {};
    for (const name of ["family", "given", "birth_date", "sex", "ins", "ins_kind", "birth_place_cog", "local_id", "local_system"]) {
      const v = f.elements[name].value.trim();
      if (v) out[name] = v;
    }
    // typed dd/mm/yyyy (whatever the browser's language); the API takes ISO 8601
    const d = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(out.birth_date || "");
    if (d) out.birth_date = d[3] + "-" + d[2].padStart(2, "0") + "-" + d[1].padStart(2, "0");
    out.identity_qualified = f.elements.identity_qualified.checked;
    if (!out.ins) delete out.ins_kind;
    return out;
  },
  async check() {
    try {
      const r = await App.api("/api/patient/validate", "POST", { patient: App.pages.patient.mapping() });
      for (const e of App.el("patient-form").querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
      const bad = !r.valid && r.field && App.el("patient-form").elements[r.field];
      if (bad && bad.setAttribute) bad.setAttribute("aria-invalid", "true");  // the field itself, not its id in the text
      if (r.valid) App.text("patient-check", App.t("patient.ok"), "check big valid");
      else App.text("patient-check", r.message, "check big invalid");
      return r.valid;
    } catch (e) { App.text("patient-check", e.message, "check big invalid"); return false; }
  },
  init() {
    const f = App.el("patient-form");
    let timer = null;
    f.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => App.pages.patient.check(), 150); });
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const h = f.elements.height_cm.value;
      try {
        await App.api("/api/patient", "POST", { patient: App.pages.patient.mapping(), height_cm: h ? Number(h) : null });
        await App.refresh();
        App.show("spiro");
      } catch (e) { App.text("patient-check", e.message, "check big invalid"); }
    });
  },
  demoDefaults() {
    // the INS test system's identity (never a real-looking identity in the demo)
    const v = { "p-family": "TESTPATIENT", "p-given": "Marie Louise", "p-birth": "14/03/1979", "p-sex": "female",
      "p-ins-kind": "INS-NIR-TEST", "p-ins": "279035121518989", "p-cog": "51215", "p-height": "165" };
    for (const [id, val] of Object.entries(v)) App.el(id).value = val;
    App.el("p-qualified").checked = true;
  },
  update() {
    const p = App.session.patient;
    if (p) {
      const v = { "p-family": p.family, "p-given": p.given, "p-birth": App.date(p.birth_date), "p-sex": p.sex,
        "p-ins": p.ins || "", "p-local": p.local_id || "", "p-height": p.height_cm || "" };
      for (const [id, val] of Object.entries(v)) App.el(id).value = val;
      if (p.ins_kind) App.el("p-ins-kind").value = p.ins_kind;
      App.el("p-qualified").checked = !!p.ins;
    } else if (App.session.test_mode && !App.el("p-family").value) {
      App.pages.patient.demoDefaults();
    }
  },
};

// -- devices ---------------------------------------------------------------------------------------------------
App.pages.devices = {
  async show() {
    const r = await App.api("/api/devices");
    const body = App.el("devices-body"); body.textContent = "";
    for (const d of r.devices) {
      const tr = body.insertRow();
      const id = d.identity ? `${d.identity.manufacturer} ${d.identity.model} — ${d.identity.serial_number} (fw ${d.identity.firmware})` : "—";
      for (const v of [App.t("devices." + d.kind) + (d.simulator ? App.t("devices.simulator") : ""), d.url,
        App.t("devices." + d.status), id, App.t("devices." + d.calibration)]) tr.insertCell().textContent = v;
      if (d.calibration_note) tr.cells[4].title = d.calibration_note;
      if (d.kind === "spirometer") App.el("cal-sim-wrap").hidden = !d.simulator;
    }
  },
  // the verdict of a verification (typed or measured on the device): each stroke's error, then pass / fail
  verdict(r) {
    r.strokes.forEach((s, k) => {
      if (k > 2) return;
      App.el("cal-v" + k).value = s.volume_l.toFixed(3); App.el("cal-f" + k).value = s.mean_flow_l_s.toFixed(2);
      App.text("cal-r" + k, App.t("cal.band." + s.band) + " : " + (s.error_pct > 0 ? "+" : "") + s.error_pct.toFixed(1) + " % — " + App.t(s.passed ? "yes" : "no"), s.passed ? "good" : "bad");
    });
    const missing = r.missing_bands.length ? " — " + App.t("cal.missing").replace("{bands}", r.missing_bands.map((b) => App.t("cal.band." + b)).join(", ")) : "";
    App.text("cal-status", App.t(r.passed ? "cal.pass" : "cal.fail") + missing + (r.calibration ? " — " + r.calibration.note : ""), "big " + (r.passed ? "good" : "bad"));
  },
  // a verification measured by the spirometer: the server records the strokes, the page follows the run
  async poll() {
    const { run } = await App.api("/api/calibration/record");
    if (!run) return;
    run.measured.forEach((m, k) => { if (k < 3) { App.el("cal-v" + k).value = m.volume_l.toFixed(3); App.el("cal-f" + k).value = m.mean_flow_l_s.toFixed(2); } });
    if (run.state === "recording") {
      const p = run.prompt;
      const retry = p && run.retried.includes(p.index) ? App.t("cal.again") + " — " : "";
      App.text("cal-prompt", p ? retry + App.t("cal.push").replace("{n}", p.index + 1).replace("{total}", run.strokes_expected)
        .replace("{band}", App.t("cal.band." + p.band)).replace("{s}", String(p.seconds).replace(".", App.lang === "fr" ? "," : ".")) : "", "big");
      setTimeout(() => App.pages.devices.poll().catch((e) => App.banner(e.message)), 250);
      return;
    }
    App.text("cal-prompt", "");
    App.el("cal-record-btn").disabled = false;
    if (run.state === "failed") { App.text("cal-status", run.error, "big bad"); return; }
    App.pages.devices.verdict(run.result);
    await App.pages.devices.show(); await App.refresh();
  },
  init() {
    const num = (id) => (App.el(id).value === "" ? null : Number(App.el(id).value));
    const syringe = () => ({ syringe_l: num("cal-syringe-l"), syringe_serial: App.el("cal-serial").value.trim(),
      syringe_accuracy_pct: num("cal-accuracy") });
    App.el("cal-btn").addEventListener("click", async () => {
      const body = { ...syringe(), measured_l: [0, 1, 2].map((k) => num("cal-v" + k)),
        flows_l_s: [0, 1, 2].map((k) => num("cal-f" + k)) };
      try {
        const r = await App.api("/api/calibration", "POST", body);
        App.pages.devices.verdict(r);
        await App.pages.devices.show(); await App.refresh();
      } catch (e) { App.banner(e.message); }
    });
    App.el("cal-record-btn").addEventListener("click", async () => {
      const body = syringe();
      if (!App.el("cal-sim-wrap").hidden && App.el("cal-sim-error").value !== "") body.sim_device_error_pct = num("cal-sim-error");
      try {
        for (let k = 0; k < 3; k++) { App.el("cal-v" + k).value = ""; App.text("cal-r" + k, ""); }
        App.text("cal-status", "");
        await App.api("/api/calibration/record", "POST", body);
        App.el("cal-record-btn").disabled = true;
        await App.pages.devices.poll();
      } catch (e) { App.el("cal-record-btn").disabled = false; App.banner(e.message); }
    });
  },
};

// -- review and send -------------------------------------------------------------------------------------------
App.pages.review = {
  timer: null,
  show() {
    const sel = App.el("review-exam"); const keep = sel.value; sel.textContent = "";
    for (const k of ["spirometry", "ecg"]) {
      const ex = App.session[k];
      if (ex) sel.add(new Option(App.t("review." + k) + " — " + ex.started_at.slice(11, 16), ex.id));
    }
    for (const id of App.sentIds || []) {
      if (![...sel.options].some((o) => o.value === id.id)) sel.add(new Option(id.label, id.id));
    }
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
    if (sel.value) App.pages.review.load();
  },
  load() {
    const id = App.el("review-exam").value; if (!id) return;
    App.el("pdf-frame").src = "/api/exams/" + id + "/report.pdf";
    App.pages.review.poll();
  },
  renderStatus(list) {
    const e = App.el("delivery-status");
    if (!list.length) { e.textContent = ""; return; }
    const worst = list.find((d) => d.status === "failed") || list.find((d) => d.status === "waiting") || list[0];
    e.className = "huge status-" + worst.status;
    e.dataset.status = worst.status;
    e.textContent = worst.text + (worst.status !== "sent" && worst.reason ? " — " + worst.reason : "");
  },
  async poll() {
    const id = App.el("review-exam").value; if (!id) return;
    const r = await App.api("/api/exams/" + id + "/delivery");
    App.pages.review.renderStatus(r.deliveries);
    clearTimeout(App.pages.review.timer);
    if (r.deliveries.some((d) => d.status === "waiting")) App.pages.review.timer = setTimeout(() => App.pages.review.poll(), 2000);
  },
  init() {
    App.el("review-load").addEventListener("click", () => App.pages.review.load());
    App.el("review-exam").addEventListener("change", () => App.pages.review.load());
    App.el("send-btn").addEventListener("click", async () => {
      const sel = App.el("review-exam"); const id = sel.value; if (!id) return;
      App.el("send-btn").disabled = true;
      try {
        const r = await App.api("/api/exams/" + id + "/send", "POST", {});
        App.sentIds = (App.sentIds || []).concat([{ id, label: sel.options[sel.selectedIndex].text }]);
        App.pages.review.renderStatus(r.deliveries);
        App.pages.review.poll();
        await App.refresh();
      } catch (e) { App.text("delivery-status", e.message, "huge status-failed"); }
      App.el("send-btn").disabled = false;
    });
  },
};

// -- history ---------------------------------------------------------------------------------------------------
App.pages.history = {
  async show() {
    const r = await App.api("/api/history");
    const body = App.el("history-body"); body.textContent = "";
    for (const h of r.history) {
      const tr = body.insertRow();
      const st = h.deliveries.length ? h.deliveries.map((d) => d.text + (d.status === "failed" ? " — " + d.reason : "")).join("; ") : App.t("history.not_sent");
      for (const v of [h.time.slice(11, 16), App.t("review." + h.kind), h.patient, st]) tr.insertCell().textContent = v;
    }
  },
};

// -- ECG files the watched folder refused for an incomplete identity ---------------------------------------------
App.pages.files = {
  fields(list) { return (list || "").split(",").map((f) => App.t("field." + f.trim())).join(", "); },
  async show(note = "") {  // note: the outcome of the last sending, kept above the list
    const r = await App.api("/api/ecg-files");
    const body = App.el("files-body"); body.textContent = "";
    const state = !r.configured ? App.t("files.not_configured") : !r.files.length ? App.t("files.none") : "";
    App.text("files-status", [note, state].filter(Boolean).join(" — "));
    for (const f of r.files) {
      const tr = body.insertRow();
      const inFile = [f.in_file.family, f.in_file.given, f.in_file.birth_date && App.date(f.in_file.birth_date), f.in_file.patient_id && "n° " + f.in_file.patient_id].filter(Boolean).join(" — ");
      for (const v of [f.acquired_at ? App.date(f.acquired_at) : "?", f.device + " (" + f.format + ", " + f.leads + " × " + f.duration_s + " s)", inFile, App.pages.files.fields(f.missing)]) tr.insertCell().textContent = v;
      const b = document.createElement("button"); b.type = "button"; b.className = "primary"; b.textContent = App.t("files.send");
      b.addEventListener("click", () => App.pages.files.send(f.id, b));
      tr.insertCell().appendChild(b);
    }
  },
  async send(id, button, checked = false) {
    if (!App.session || !App.session.patient) { App.text("files-status", App.t("files.no_patient")); return; }
    button.disabled = true;
    try {
      const r = await App.api("/api/ecg-files/" + id + "/import", "POST", { identity_checked: checked });
      await App.pages.files.show(App.t("files.sent") + r.delivery.text);
    } catch (e) {
      button.disabled = false;
      if (e.data && e.data.error === "identity_differs" && !checked) {
        if (window.confirm(App.t("files.differs").replace("{field}", App.pages.files.fields(e.data.field)))) await App.pages.files.send(id, button, true);
      } else if (e.data && e.data.error === "no_patient") {
        App.text("files-status", App.t("files.no_patient"));
      } else {
        App.text("files-status", e.message);
      }
    }
  },
};

async function start() {
  App.applyI18n();
  for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => App.show(b.dataset.page));
  App.el("lang-btn").addEventListener("click", async () => {
    await App.api("/api/lang", "POST", { lang: App.lang === "fr" ? "en" : "fr" });
    await App.refresh();
    const r = App.pages[App.current]; if (r && r.show) r.show();
  });
  for (const name of Object.keys(App.pages)) { const r = App.pages[name]; if (r.init) r.init(); }
  try {
    await App.refresh();
  } catch (e) {
    if (e.status === 401) { App.el("login-needed").hidden = false; document.querySelector("main").hidden = true; return; }
    App.banner(e.message); return;
  }
  App.connect();
  App.show((location.hash || "#patient").slice(1) in App.pages ? location.hash.slice(1) || "patient" : "patient");
  App.ready = true;
}
window.addEventListener("DOMContentLoaded", () => setTimeout(start, 0));
