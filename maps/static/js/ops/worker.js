/* GridTwin grid worker page, made for a phone: the cases assigned to me, accept them, and send
   feedback (a note and an optional photo URL) once handled. Follows the live stream, so a
   newly dispatched case shows up by itself.

   `crew` is the page's state, for tests. */
import * as api from "../lib/api.js";
import { clear, h } from "../lib/dom.js";
import * as i18n from "../lib/i18n.js";
import { t } from "../lib/i18n.js";
import { connect } from "../lib/live.js";
import * as ops from "./common.js";

const TABS = {
  todo: ["dispatched", "accepted", "reopened"],
  waiting: ["handled"],
  done: ["closed", "evaluated"],
};
// drafts: what was typed into a feedback form, kept while the list is drawn again by live updates.
export const crew = { tab: "todo", cases: [], loads: 0, errors: {}, drafts: {} };
const ui = {};
let loadTimer = null;

function load() {
  const statuses = TABS.todo.concat(TABS.waiting, TABS.done);
  return api.get("/api/cases" + api.query({ assignee: "me", status: statuses, limit: 200 })).then(function (body) {
    crew.cases = body.cases;
    crew.loads += 1;
    render();
  }, function (e) {
    clear(ui.list).appendChild(ops.errorBox(e));
  });
}
function scheduleLoad() {
  clearTimeout(loadTimer);
  loadTimer = setTimeout(load, 200);
}

function renderTabs() {
  clear(ui.tabs);
  Object.keys(TABS).forEach(function (tab) {
    const n = crew.cases.filter(function (c) { return TABS[tab].indexOf(c.status) >= 0; }).length;
    ui.tabs.appendChild(h("button", { type: "button", role: "tab", id: "tab-" + tab,
      class: "tab" + (crew.tab === tab ? " on" : ""), "aria-selected": String(crew.tab === tab),
      onclick: function () { crew.tab = tab; render(); } }, t("worker.tab." + tab), h("b", { class: "tab-count" }, String(n))));
  });
}

function dueLine(c) {
  if (!c.due_at) return null;
  const overdue = ops.isOverdue(c);
  const key = c.status === "dispatched" ? "worker.due.accept" : "worker.due.handle";
  return h("div", { class: "due" + (overdue ? " overdue" : "") },
    overdue ? t("worker.due.overdue", { d: i18n.duration((Date.now() - new Date(c.due_at)) / 1000) }) :
      t(key, { time: i18n.when(c.due_at), d: i18n.relative(c.due_at) }));
}

function card(c) {
  const error = crew.errors[c.id];
  const body = [];
  if (c.status === "dispatched") {
    body.push(h("button", { type: "button", class: "btn btn-primary btn-block btn-big", dataset: { action: "accept" },
      onclick: function (e) { e.target.disabled = true; act(c, { action: "accept" }); } }, t("worker.accept")));
  } else if (c.status === "accepted") {
    const draft = crew.drafts[c.id] = crew.drafts[c.id] || { note: "", photo: "" };
    const note = h("textarea", { name: "note", id: "fb-note-" + c.id, rows: "4", required: true, maxlength: "4000",
                                 placeholder: t("form.note_hint.handle"),
                                 oninput: function () { draft.note = note.value; } });
    const photo = h("input", { name: "photo_url", id: "fb-photo-" + c.id, type: "url", inputmode: "url",
                               placeholder: "https://", oninput: function () { draft.photo = photo.value; } });
    note.value = draft.note;
    photo.value = draft.photo;
    const submit = h("button", { type: "submit", class: "btn btn-primary btn-block btn-big" }, t("worker.handle"));
    body.push(h("form", { class: "feedback", dataset: { action: "handle" }, onsubmit: function (e) {
      e.preventDefault();
      submit.disabled = true;
      const fields = { action: "handle", note: note.value.trim() };
      if (photo.value.trim()) fields.photo_url = photo.value.trim();
      act(c, fields).then(null, function () { submit.disabled = false; });
    } },
      h("label", { for: "fb-note-" + c.id }, t("worker.feedback") + " *"), note,
      h("label", { for: "fb-photo-" + c.id }, t("field.photo_url")), photo, submit));
  } else if (c.status === "handled") {
    body.push(h("div", { class: "waiting" }, t("worker.waiting", { time: i18n.when(c.handled_at) })),
      c.feedback ? h("blockquote", null, c.feedback) : null);
  } else if (c.status === "reopened") {
    body.push(h("div", { class: "alert alert-info" }, t("worker.reopened")));
  } else if (c.satisfaction) {
    body.push(h("div", { class: "stars" }, "\u2605".repeat(c.satisfaction) + "\u2606".repeat(5 - c.satisfaction)));
  }
  return h("article", { class: "job sev-" + c.severity, dataset: { id: c.id, status: c.status } },
    h("header", null, h("h2", null, ops.typeLabel(c.type)), ops.severityBadge(c.severity), ops.statusBadge(c.status)),
    h("div", { class: "job-place" }, ops.place(c.cell, 3)),
    h("div", { class: "job-meta" }, h("span", { class: "mono" }, c.id), " \u00b7 ", t("worker.since", { time: i18n.when(c.created_at) })),
    dueLine(c),
    c.title ? h("p", { class: "job-title" }, c.title) : null,
    c.description ? h("p", { class: "job-desc" }, c.description) : null,
    error ? ops.errorBox(error) : null,
    body);
}

function byDue(a, b) {
  const x = a.due_at ? Date.parse(a.due_at) : Infinity, y = b.due_at ? Date.parse(b.due_at) : Infinity;
  return x === y ? 0 : x < y ? -1 : 1;
}

function render() {
  renderTabs();
  clear(ui.list);
  const shown = crew.cases.filter(function (c) { return TABS[crew.tab].indexOf(c.status) >= 0; });
  if (crew.tab === "todo") shown.sort(byDue); // the most urgent first
  if (!shown.length) ui.list.appendChild(h("p", { class: "empty", id: "no-jobs" }, t("worker.empty." + crew.tab)));
  shown.forEach(function (c) { ui.list.appendChild(card(c)); });
}

function act(c, body) {
  delete crew.errors[c.id];
  return api.post("/api/cases/" + encodeURIComponent(c.id) + "/transitions", body).then(function (item) {
    delete crew.drafts[c.id];
    ops.toast(t("worker.done." + body.action, { id: item.id }), "ok");
    return load();
  }, function (e) {
    crew.errors[c.id] = e;
    return load().then(function () { throw e; });
  });
}

function onCase(change) {
  const me = ops.session.user.name, item = change.case || {};
  const mine = item.assignee === me || (change.details && change.details.previous_assignee === me) ||
    crew.cases.some(function (c) { return c.id === change.case_id; });
  if (!mine) return;
  if ((change.action === "dispatch" || change.action === "reassign") && item.assignee === me) {
    ops.toast(t("worker.new", { type: ops.typeLabel(item.type), place: ops.place(item.cell) }), "info");
    if (navigator.vibrate) navigator.vibrate(200);
  }
  scheduleLoad();
}

function start() {
  const app = clear(document.getElementById("app"));
  app.appendChild(ops.header("worker"));
  if (!ops.session.user.authenticated) {
    app.appendChild(ops.loginCard({ title: t("worker.title"), hint: t("worker.login_hint"), onLogin: function () {
      ops.me().then(start);
    } }));
    return;
  }
  ui.tabs = h("div", { class: "tabs", role: "tablist", id: "tabs" });
  ui.list = h("div", { class: "jobs", id: "jobs" });
  app.appendChild(h("main", { class: "worker" },
    ops.session.user.role !== "grid_worker" ? h("div", { class: "alert alert-info", id: "role-note" }, t("worker.role_note")) : null,
    ui.tabs, ui.list));
  load();
  connect({ case: onCase, resync: load });
  setInterval(render, 30000); // deadlines come closer
}

ops.me().then(start);
