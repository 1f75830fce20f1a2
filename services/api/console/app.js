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

function say(text) { $("#message").textContent = text; }

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

function renderBoard() {
  const open = [...incidents.values()].filter((i) => i.state !== "closed").sort(order);
  const body = $("#board tbody");
  body.replaceChildren(...open.map((i) => el("tr",
    { class: `sev-${i.severity} ${i.rule === "fire_alarm" ? "fire" : ""} st-${i.state}`,
      "data-incident": i.id, "data-rule": i.rule },
    el("td", {}, el("span", { class: "badge" }, t(`sev_${i.severity}`))),
    el("td", {}, t(`st_${i.state}`)),
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

function critical(i) { return i.severity === "critical" || i.severity === "major"; }

async function loadHandover() {
  const box = $("#handover");
  let current = null;
  try { current = await api("/handovers/current"); } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  const pending = current && current.id && !current.accepted_at && current.status !== "accepted";
  if (pending && current.from_user !== user?.username && current.created_by !== user?.username) {
    const open = (current.open_incidents ?? [...incidents.values()]).filter(critical);
    const form = el("form", { id: "accept-form" },
      el("h2", {}, t("handover_pending")),
      el("p", {}, `${t("handover_from")}: ${current.from_user ?? current.created_by ?? ""}`),
      el("p", { class: "notes" }, current.notes ?? ""),
      el("h3", {}, t("handover_ack_needed")),
      ...open.map((i) => el("label", { class: "check" },
        el("input", { type: "checkbox", name: "ack", value: i.id }),
        ` ${t(`sev_${i.severity}`)} · ${i.subject} · ${i.message}`)),
      el("label", {}, t("accept_notes"), el("textarea", { name: "notes" })),
      el("div", { class: "row" },
        el("button", { type: "submit", id: "accept-handover" }, t("handover_accept")),
        el("a", { href: `/api/v1/handovers/${current.id}/print`, target: "_blank" }, t("handover_print"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const ids = [...form.querySelectorAll("input[name=ack]:checked")].map((c) => Number(c.value));
      try {
        await api(`/handovers/${current.id}/accept`, { method: "POST",
          body: { notes: form.notes.value, acknowledged_incident_ids: ids } });
        say(t("handover_accepted"));
        await loadHandover();
      } catch (error) { failed(error); }
    });
    box.replaceChildren(form);
    return;
  }
  const form = el("form", { id: "draft-form" },
    el("h2", {}, pending ? t("handover_pending") : t("handover_draft")),
    pending ? el("p", { class: "notes" }, current.notes ?? "") : "",
    pending ? "" : el("label", {}, t("handover_notes"), el("textarea", { name: "notes", required: true })),
    pending ? "" : el("button", { type: "submit", id: "sign-handover" }, t("handover_sign")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/handovers", { method: "POST", body: { notes: form.notes.value } });
      say(t("saved"));
      await loadHandover();
    } catch (error) { failed(error); }
  });
  box.replaceChildren(form);
}

function table(target, items, cells) {
  $(target).replaceChildren(...items.map((item) => el("tr", {}, ...cells(item).map((c) => el("td", {}, c)))));
}

const LOADERS = {
  board: loadBoard,
  handover: loadHandover,
  async duty() {
    const data = await api("/duty/log");
    table("#duty-list", rows(data), (e) => [time(e.at ?? e.created_at), e.author ?? e.by ?? "", e.kind ?? "", e.text ?? e.entry ?? ""]);
  },
  async obligations() {
    const data = await api("/obligations");
    table("#obligation-list", rows(data), (o) => [o.status ?? "", o.title ?? o.name ?? o.id, o.next_due ?? o.due ?? ""]);
  },
  async isolations() {
    const data = await api("/isolations");
    table("#isolation-list", rows(data), (i) => [i.subject ?? i.point ?? "", i.message ?? i.reason ?? "", time(i.since ?? i.raised_at)]);
  },
  async devices() {
    const data = await api("/devices");
    table("#device-list", rows(data), (d) => [
      el("span", { class: `dev dev-${d.status}` }, t(`dev_${d.status}`)), d.id, d.name, d.kind, time(d.since)]);
  },
};

async function openTab(name) {
  say("");
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("current", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== `tab-${name}`;
  try { await LOADERS[name](); } catch (error) { failed(error); }
}

function showLogin() {
  source?.close();
  user = null;
  $("#main-view").hidden = true;
  $("#login-view").hidden = false;
  $("#logout").hidden = true;
  $("#who").textContent = "";
}

function showMain() {
  $("#login-view").hidden = true;
  $("#main-view").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = user.display_name ?? user.username;
  connect();
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
  $("#check-in").addEventListener("click", async () => {
    try { await api("/duty/check-in", { method: "POST", body: {} }); await LOADERS.duty(); } catch (error) { failed(error); }
  });
  setInterval(() => { $("#clock").textContent = time(new Date().toISOString()); }, 1000);
  try {
    const me = await api("/auth/me");
    user = me.user ?? me;
    showMain();
  } catch { showLogin(); }
}

start();
