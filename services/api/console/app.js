import { api, ApiError, rows } from "./api.js";
import { language, setLanguage, t } from "./i18n.js";

const $ = (selector) => document.querySelector(selector);
const RANK = { critical: 4, major: 3, minor: 2, info: 1 };
const incidents = new Map();
let user = null;
let source = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child ?? "");
  return node;
}

function time(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(language(), { hour12: false });
}

// Errors in red; a confirmation (a string key) in green, re-translated on a language switch.
function say(text) {
  delete $("#message").dataset.i18n;
  $("#message").className = "error";
  $("#message").textContent = text;
}

function tell(key) {
  say(t(key));
  $("#message").className = "notice";
  $("#message").dataset.i18n = key;
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) return showLogin();
  say(error instanceof ApiError && error.status === 404 ? t("unavailable") : `${t("error")}: ${error.message}`);
}

// Fire alarms first, then severity, then the ones nobody has acknowledged, newest first.
function order(a, b) {
  const fire = (i) => (i.rule === "fire_alarm" ? 1 : 0);
  const unacked = (i) => (i.state.endsWith("_unacked") ? 1 : 0);
  return fire(b) - fire(a) || RANK[b.severity] - RANK[a.severity]
    || unacked(b) - unacked(a) || b.raised_at.localeCompare(a.raised_at);
}

// A fire alarm panel's supervision shelved is not an ordinary shelved item: the panel may not
// be able to report a fire until it comes back, so it says so, and until when.
function supervisionShelved(i) {
  return i.state === "shelved" && Boolean(i.shelf?.panel_supervision);
}

function stateText(i) {
  if (!supervisionShelved(i)) return t(`st_${i.state}`);
  return `${t("st_shelved_supervision")} ${t("shelved_until")} ${time(i.shelf.until)}`;
}

function renderBoard() {
  const open = [...incidents.values()].filter((i) => i.state !== "closed").sort(order);
  const body = $("#board tbody");
  body.replaceChildren(...open.map((i) => el("tr",
    { class: `sev-${i.severity} ${i.rule === "fire_alarm" ? "fire" : ""} st-${i.state}`
        + (supervisionShelved(i) ? " supervision" : ""),
      "data-incident": i.id, "data-rule": i.rule },
    el("td", {}, el("span", { class: "badge" }, t(`sev_${i.severity}`))),
    el("td", { class: "state" }, stateText(i)),
    el("td", { class: "what" }, i.message),
    el("td", {}, i.subject),
    el("td", {}, time(i.raised_at)),
    el("td", {}, String(i.count)),
    el("td", { class: "actions" },
      i.state.endsWith("_unacked")
        ? el("button", { class: "ack", onclick: () => acknowledge(i) }, t("ack")) : "",
      i.state !== "closed"
        ? el("button", { class: "shelve", onclick: () => shelve(i) }, t("shelve")) : ""),
  )));
  $("#board-empty").hidden = open.length > 0;
  const fires = open.filter((i) => i.rule === "fire_alarm").length;
  const unacked = open.filter((i) => i.state.endsWith("_unacked")).length;
  $("#summary").replaceChildren(
    el("span", { class: fires ? "count fire" : "count" }, `${t("fire_alarms")} ${fires}`),
    el("span", { class: "count" }, `${t("unacked")} ${unacked}`),
    el("span", { class: "count" }, `${t("open_total")} ${open.length}`));
}

async function loadBoard() {
  const data = await api("/incidents?open=true&limit=1000");
  incidents.clear();
  for (const incident of rows(data)) incidents.set(incident.id, incident);
  renderBoard();
}

function connect() {
  source?.close();
  // Start from the newest event, then load the board: a change between the two is replayed.
  source = new EventSource("/api/v1/events");
  source.addEventListener("open", () => {
    $("#live").className = "live on";
    $("#live").dataset.i18n = "live";
    $("#live").textContent = t("live");
    loadBoard().catch(failed);
  });
  source.addEventListener("error", () => {
    $("#live").className = "live off";
    $("#live").dataset.i18n = "offline";
    $("#live").textContent = t("offline");
  });
  source.addEventListener("incident", (message) => {
    const { incident } = JSON.parse(message.data);
    incidents.set(incident.id, incident);
    renderBoard();
  });
}

async function acknowledge(incident) {
  // Once logged in the server knows who acknowledges; without auth the API asks for a name.
  const body = user?.anonymous ? { by: user.username, comment: "" } : { comment: "" };
  try {
    const updated = await api(`/incidents/${incident.id}/ack`, { method: "POST", body });
    incidents.set(updated.id, updated);
    renderBoard();
  } catch (error) { failed(error); }
}

function shelve(incident) {
  const dialog = $("#shelve-dialog");
  const form = $("#shelve-form");
  form.reset();
  $("#shelve-what").textContent = `${incident.subject} — ${incident.message}`;
  dialog.onclose = async () => {
    if (dialog.returnValue !== "ok") return;
    const body = { reason: form.reason.value, minutes: Number(form.minutes.value) };
    try {
      const updated = await api(`/incidents/${incident.id}/shelve`, { method: "POST", body });
      if (updated?.id) incidents.set(updated.id, updated);
      renderBoard();
    } catch (error) { failed(error); }
  };
  dialog.showModal();
}

// -- handover (交接班) ------------------------------------------------------------------------
// GET /handovers/current is the live draft report for the shift being handed over; GET
// /handovers lists signed handovers newest first, an unaccepted one is waiting for the
// incoming operator. Accepting takes over every open critical and major incident, each ticked.

const MUST_ACK = new Set(["critical", "major"]);
let handover = { draft: null, list: [], checked: new Set(), missing: [], error: "" };

function printLink(id) {
  return el("a", { class: "print", href: `/api/v1/handovers/${id}/print`, target: "_blank",
    rel: "noopener" }, t("handover_print"));
}

function incidentLine(i) {
  return `${t(`sev_${i.severity}`)} · ${t(`st_${i.state}`)} · ${i.subject} · ${i.message}`;
}

// The report's sections: open incidents, isolations, manual systems, offline devices, tests due.
function reportView(report) {
  const section = (key, items, line) => el("div", { class: "report-part", "data-part": key },
    el("h3", {}, `${t(`rep_${key}`)} (${items.length})`),
    items.length ? el("ul", {}, ...items.map((item) => el("li", {}, line(item))))
      : el("p", { class: "muted" }, t("rep_none")));
  const test = (o) => [o.title, o.device, t(`test_${o.state}`), time(o.due)].filter(Boolean).join(" · ");
  return el("div", { class: "report" },
    el("p", {}, `${t("shift")}: ${time(report.shift_start)} – ${time(report.shift_end)}`
      + ` · ${t("on_duty")}: ${(report.on_duty ?? []).join(", ") || "—"}`),
    section("open_incidents", report.open_incidents ?? [], incidentLine),
    section("isolations", report.isolations ?? [], incidentLine),
    section("systems_in_manual", report.systems_in_manual ?? [], incidentLine),
    section("devices_offline", report.devices_offline ?? [], incidentLine),
    section("shelved_supervision", report.shelved_supervision ?? [],
      (i) => `${incidentLine(i)} · ${t("shelved_until")} ${time(i.until)} · ${i.shelved_by}: ${i.reason}`),
    section("tests_due", report.tests_due ?? [], test));
}

function signedBy(h) {
  return el("p", { class: "signed" },
    `${t("handover_from")}: ${h.signed_by} · ${time(h.signed_at)} · `
    + `${t("shift")}: ${time(h.shift_start)} – ${time(h.shift_end)}`);
}

function acceptForm(pending) {
  // The server checks the incidents open now, so the list comes from the live draft.
  const open = (handover.draft?.open_incidents ?? []).filter((i) => MUST_ACK.has(i.severity));
  const missing = new Set(handover.missing);
  const form = el("form", { id: "accept-form", "data-handover": pending.id },
    el("h2", {}, t("handover_pending")),
    signedBy(pending),
    el("h3", {}, t("handover_notes_from")),
    el("p", { class: "notes" }, pending.notes || "—"),
    el("h3", {}, t("handover_ack_needed")),
    open.length ? "" : el("p", { class: "muted" }, t("handover_nothing_to_ack")),
    ...open.map((i) => el("label", { class: missing.has(i.id) ? "check missing" : "check",
      "data-incident": i.id },
      el("input", { type: "checkbox", name: "ack", value: i.id,
        checked: handover.checked.has(i.id) ? "checked" : false }),
      ` #${i.id} · ${incidentLine(i)}`)),
    handover.error ? el("p", { id: "accept-error", class: "error", role: "alert" }, handover.error) : "",
    el("label", {}, t("accept_notes"), el("textarea", { name: "notes" })),
    el("div", { class: "row" },
      el("button", { type: "submit", id: "accept-handover" }, t("handover_accept")),
      printLink(pending.id)),
    el("details", {}, el("summary", {}, t("handover_report")), reportView(pending.report)));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ids = [...form.querySelectorAll("input[name=ack]:checked")].map((c) => Number(c.value));
    handover.checked = new Set(ids);
    try {
      await api(`/handovers/${pending.id}/accept`, { method: "POST",
        body: { notes: form.notes.value, acknowledged_incident_ids: ids } });
      handover.checked = new Set();
      handover.missing = [];
      handover.error = "";
      tell("handover_accepted");
      await loadHandover();
    } catch (error) {
      const missingIds = error instanceof ApiError ? error.detail?.missing_incident_ids : null;
      if (!Array.isArray(missingIds)) return failed(error);
      // Someone's incident is not ticked (or a new one came in): say which, and show them.
      handover.missing = missingIds;
      handover.error = `${t("handover_missing")}: ${missingIds.map((id) => `#${id}`).join(", ")}`;
      await loadHandover();
    }
  });
  return form;
}

function signForm(draft) {
  const form = el("form", { id: "draft-form" },
    el("h2", {}, t("handover_draft")),
    reportView(draft),
    el("label", {}, t("handover_notes"), el("textarea", { name: "notes", maxlength: 4000 })),
    el("button", { type: "submit", id: "sign-handover" }, t("handover_sign")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/handovers", { method: "POST", body: { notes: form.notes.value } });
      tell("handover_signed");
      await loadHandover();
    } catch (error) { failed(error); }
  });
  return form;
}

function handoverCard(h) {
  const accepted = Boolean(h.accepted_at);
  return el("div", { class: accepted ? "handover-record accepted" : "handover-record waiting",
    id: accepted ? "handover-accepted" : "handover-waiting", "data-handover": h.id },
    el("h2", {}, accepted ? t("handover_accepted") : t("handover_waiting")),
    signedBy(h),
    el("p", { class: "notes" }, h.notes || "—"),
    accepted ? el("p", { class: "accepted-by" },
      `${t("handover_to")}: ${h.accepted_by} · ${time(h.accepted_at)}`
      + (h.acknowledged_incident_ids.length
        ? ` · ${t("handover_taken_over")}: ${h.acknowledged_incident_ids.map((id) => `#${id}`).join(", ")}`
        : "")) : "",
    accepted && h.acceptance_notes ? el("p", { class: "notes" }, h.acceptance_notes) : "",
    el("div", { class: "row" }, printLink(h.id)));
}

function renderHandover() {
  const { draft, list } = handover;
  if (!draft) return;
  const pending = list.find((h) => !h.accepted_at);
  const parts = [];
  if (pending && pending.signed_by !== user?.username) parts.push(acceptForm(pending));
  else if (pending) parts.push(handoverCard(pending));
  const done = list.find((h) => h.shift_end === draft.shift_end);
  if (done && done !== pending) parts.push(handoverCard(done));
  // One handover per shift: once this shift's is signed, there is nothing more to sign.
  if (!done && !pending) parts.push(signForm(draft));
  $("#handover").replaceChildren(...parts);
}

async function loadHandover() {
  const [draft, list] = await Promise.all([api("/handovers/current"), api("/handovers")]);
  handover.draft = draft;
  handover.list = rows(list);
  renderHandover();
}

function renderOnDuty(present) {
  const people = present.on_duty ?? [];
  $("#on-duty").className = people.length < present.min_operators ? "on-duty short" : "on-duty";
  $("#on-duty").textContent = `${t("on_duty")}: `
    + (people.map((p) => `${p.username} (${t("since")} ${time(p.since)})`).join(", ") || "—")
    + ` · ${t("min_operators")} ${present.min_operators}`;
}

function table(target, items, cells) {
  $(target).replaceChildren(...items.map((item) => el("tr", {}, ...cells(item).map((c) => el("td", {}, c)))));
}

const LOADERS = {
  board: loadBoard,
  handover: loadHandover,
  async duty() {
    const [log, present] = await Promise.all([api("/duty/log?limit=200"), api("/duty")]);
    renderOnDuty(present);
    // Oldest first from the server; the newest entry goes on top.
    table("#duty-list", rows(log).reverse(), (e) => [
      time(e.at), el("span", { class: `kind kind-${e.kind}` }, t(`log_${e.kind}`)),
      e.author ?? t("log_system"), e.text]);
  },
  async obligations() {
    const data = await api("/obligations");
    // The worst state of the obligation's subjects, its title and its earliest due date.
    table("#obligation-list", rows(data), (o) => [o.state, `${o.title} (${o.period})`, time(o.due)]);
  },
  async isolations() {
    const data = await api("/isolations");
    table("#isolation-list", rows(data), (i) => [i.subject, i.message, time(i.since)]);
  },
  async devices() {
    const data = await api("/devices");
    table("#device-list", rows(data), (d) => [
      el("span", { class: `dev dev-${d.status}` }, t(`dev_${d.status}`)), d.id, d.name, d.kind, time(d.since)]);
  },
};

let tab = "board";

async function openTab(name) {
  tab = name;
  say("");
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("current", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== `tab-${name}`;
  try { await LOADERS[name](); } catch (error) { failed(error); }
}

function showLogin() {
  source?.close();
  clearInterval(monitoringTimer);
  $("#monitoring-down").hidden = true;
  user = null;
  incidents.clear();
  handover = { draft: null, list: [], checked: new Set(), missing: [], error: "" };
  $("#handover").replaceChildren();
  $("#main-view").hidden = true;
  $("#login-view").hidden = false;
  $("#logout").hidden = true;
  $("#who").textContent = "";
}

// The API's own watch on the rules service and the broker: a board that is quiet because
// nothing is watching must not look like a quiet site.
const MONITORING_EVERY_MS = 3000;
let monitoringTimer = null;

async function checkMonitoring() {
  try {
    const chain = await api("/monitoring");
    $("#monitoring-down").hidden = chain.status !== "down";
    $("#monitoring-why").textContent = chain.status === "down" ? chain.message : "";
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    // The API itself unreachable: the live badge already says disconnected.
  }
}

function watchMonitoring() {
  clearInterval(monitoringTimer);
  checkMonitoring();
  monitoringTimer = setInterval(checkMonitoring, MONITORING_EVERY_MS);
}

function showMain() {
  $("#login-view").hidden = true;
  $("#main-view").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = user.display_name ?? user.username;
  connect();
  watchMonitoring();
  openTab("board");
}

async function login(event) {
  event.preventDefault();
  const form = event.target;
  const credentials = { username: form.username.value, password: form.password.value };
  $("#login-error").textContent = "";
  try {
    const session = await api("/auth/login", { method: "POST", body: credentials });
    sessionStorage.setItem("fireroom.token", session.token);
    user = session.user;
  } catch (error) {
    // A server without user accounts: the console still works, acks carry the typed name.
    if (!(error instanceof ApiError && error.status === 404)) {
      $("#login-error").textContent = t("login_failed");
      return;
    }
    user = { username: credentials.username, anonymous: true };
  }
  showMain();
}

async function start() {
  setLanguage(language());
  $("#lang").textContent = t("switch_lang");
  $("#lang").addEventListener("click", () => {
    setLanguage(language() === "en" ? "zh-CN" : "en");
    $("#lang").textContent = t("switch_lang");
    renderBoard();
    if (tab === "handover") renderHandover();
    else if (tab !== "board") LOADERS[tab]().catch(failed);
  });
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", async () => {
    try { await api("/auth/logout", { method: "POST" }); } catch { /* already gone */ }
    sessionStorage.removeItem("fireroom.token");
    showLogin();
  });
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => openTab(button.dataset.tab));
  }
  $("#duty-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/duty/log", { method: "POST", body: { text: event.target.text.value } });
      event.target.reset();
      await LOADERS.duty();
    } catch (error) { failed(error); }
  });
  for (const [button, path] of [["#check-in", "/duty/check-in"], ["#check-out", "/duty/check-out"]]) {
    $(button).addEventListener("click", async () => {
      try { renderOnDuty(await api(path, { method: "POST" })); await LOADERS.duty(); } catch (error) { failed(error); }
    });
  }
  setInterval(() => { $("#clock").textContent = time(new Date().toISOString()); }, 1000);
  try {
    const me = await api("/auth/me");
    user = me.user ?? me;
    showMain();
  } catch { showLogin(); }
}

start();
