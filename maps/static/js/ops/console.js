/* GridTwin dispatch console: the case list with its filters, a case with its timeline and a
   small map, the actions the user's role allows on it, and manual reports. The list and the
   open case follow the live stream.

   `desk` is the page's state, with act() for tests. */
import * as api from "../lib/api.js";
import { config } from "../lib/config.js";
import { clear, h } from "../lib/dom.js";
import * as i18n from "../lib/i18n.js";
import { t } from "../lib/i18n.js";
import { addBasemap, hasAttribution, mapBounds, toMap, withCrs } from "../lib/basemap.js";
import { L } from "../lib/leaflet.js";
import { connect } from "../lib/live.js";
import * as ops from "./common.js";

// The fields each action's form asks for: [field, required].
const FORMS = {
  file: [["note", false]],
  cancel: [["reason", true], ["note", false]],
  dispatch: [["assignee", false], ["note", false]],
  reassign: [["assignee", true], ["note", false]],
  accept: [["note", false]],
  handle: [["note", true], ["photo_url", false]],
  close: [["note", false]],
  reopen: [["note", true]],
  evaluate: [["satisfaction", true], ["note", false]],
};
const PRIMARY = ["file", "dispatch", "accept", "handle", "close", "evaluate"];
const REPORT_TYPES = ["pothole", "litter", "illegal_parking", "street_vendor", "waterlogging", "broken_streetlight",
                      "manhole_open", "noise_complaint", "fire", "smoke"];
const PAGE = 50;

export const desk = {
  filters: { statuses: config.openStatuses.slice(), severity: "", cell: "", assignee: "", overdue: false },
  offset: 0,
  cases: [],
  total: 0,
  selected: null,
  detail: null,
  form: null, // the action whose form is open
  listLoads: 0,
  detailLoads: 0,
};
const ui = {};
let listTimer = null, miniMap = null, cellsPromise = null;

// -- the list --------------------------------------------------------------------------
function listQuery() {
  const f = desk.filters;
  const local = !!f.severity; // the API has no severity filter: take a full page and filter here
  return { status: f.statuses.length === config.statuses.length ? null : f.statuses,
           cell: f.cell.trim() || null, assignee: f.assignee.trim() || null, overdue: f.overdue ? "true" : null,
           limit: local ? 500 : PAGE, offset: local ? 0 : desk.offset };
}
function loadList() {
  const query = listQuery();
  return api.get("/api/cases" + api.query(query)).then(function (body) {
    let cases = body.cases;
    if (desk.filters.severity) cases = cases.filter(function (c) { return c.severity === desk.filters.severity; });
    desk.cases = cases;
    desk.total = desk.filters.severity ? cases.length : body.total;
    desk.listLoads += 1;
    renderList();
  }, function (e) {
    clear(ui.rows).appendChild(h("tr", null, h("td", { colspan: "8" }, ops.errorBox(e))));
  });
}
function scheduleList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(loadList, 250);
}

function filterBar() {
  const f = desk.filters;
  const chips = h("div", { class: "chips", id: "f-status", role: "group", "aria-label": t("console.filter.status") },
    config.statuses.map(function (s) {
      return h("button", { type: "button", class: "chip status-" + s + (f.statuses.indexOf(s) >= 0 ? " on" : ""),
        dataset: { status: s }, "aria-pressed": String(f.statuses.indexOf(s) >= 0), onclick: function () {
          const i = f.statuses.indexOf(s);
          if (i >= 0) f.statuses.splice(i, 1);
          else f.statuses.push(s);
          if (!f.statuses.length) f.statuses = config.statuses.slice();
          refilter();
        } }, ops.statusLabel(s));
    }));
  const quick = h("div", { class: "chips-quick" },
    h("button", { type: "button", class: "link", id: "f-open", onclick: function () {
      f.statuses = config.openStatuses.slice(); refilter(); } }, t("console.filter.open")),
    h("button", { type: "button", class: "link", id: "f-all", onclick: function () {
      f.statuses = config.statuses.slice(); refilter(); } }, t("console.filter.all")));
  const severity = h("select", { id: "f-severity", onchange: function () { f.severity = severity.value; refilter(); } },
    h("option", { value: "" }, t("console.filter.any_severity")),
    h("option", { value: "critical" }, ops.severityLabel("critical")),
    h("option", { value: "warning" }, ops.severityLabel("warning")));
  severity.value = f.severity;
  const cell = h("input", { id: "f-cell", placeholder: t("console.filter.cell_hint"), value: f.cell,
    onchange: function () { f.cell = cell.value; refilter(); } });
  const assignee = h("input", { id: "f-assignee", placeholder: t("console.filter.assignee_hint"), value: f.assignee,
    onchange: function () { f.assignee = assignee.value; refilter(); } });
  const overdue = h("input", { type: "checkbox", id: "f-overdue", checked: f.overdue,
    onchange: function () { f.overdue = overdue.checked; refilter(); } });
  return h("div", { class: "filters" },
    h("div", { class: "filters-row" }, chips, quick),
    h("div", { class: "filters-row" },
      h("label", null, t("console.filter.severity"), severity),
      h("label", null, t("console.filter.cell"), cell),
      h("label", null, t("console.filter.assignee"), assignee),
      h("label", { class: "check" }, overdue, t("console.filter.overdue")),
      ops.can("case.report") ? h("button", { type: "button", class: "btn btn-primary", id: "report-open",
        onclick: openReport }, t("console.report.open")) : null));
}
function refilter() {
  desk.offset = 0;
  clear(ui.filters).appendChild(filterBar());
  loadList();
}

function renderList() {
  clear(ui.rows);
  if (!desk.cases.length) {
    ui.rows.appendChild(h("tr", { class: "empty" }, h("td", { colspan: "8" }, t("console.list.empty"))));
  }
  const now = Date.now();
  desk.cases.forEach(function (c) {
    const overdue = ops.isOverdue(c, now);
    ui.rows.appendChild(h("tr", { class: (c.id === desk.selected ? "selected " : "") + (overdue ? "overdue" : ""),
      dataset: { id: c.id, status: c.status }, tabindex: "0",
      onclick: function () { select(c.id); },
      onkeydown: function (e) { if (e.key === "Enter") select(c.id); } },
      h("td", { class: "mono" }, c.id),
      h("td", null, ops.typeLabel(c.type)),
      h("td", null, ops.severityBadge(c.severity)),
      h("td", null, ops.statusBadge(c.status)),
      h("td", { class: "place", title: c.cell.path }, ops.place(c.cell)),
      h("td", null, c.assignee || h("span", { class: "muted" }, t("common.none"))),
      h("td", { class: overdue ? "due overdue" : "due" }, c.due_at ?
        (overdue ? t("console.list.overdue_by", { d: i18n.duration((now - new Date(c.due_at)) / 1000) }) :
          i18n.relative(c.due_at)) : h("span", { class: "muted" }, t("common.none"))),
      h("td", { class: "muted col-updated" }, i18n.when(c.updated_at))));
  });
  const first = desk.cases.length ? desk.offset + 1 : 0;
  ui.count.textContent = t("console.list.count", { from: first, to: desk.offset + desk.cases.length, total: desk.total });
  ui.prev.disabled = desk.offset === 0 || !!desk.filters.severity;
  ui.next.disabled = desk.offset + desk.cases.length >= desk.total || !!desk.filters.severity;
}

// -- one case ----------------------------------------------------------------------------
function select(id) {
  if (desk.selected !== id) desk.form = null;
  desk.selected = id;
  if (location.hash.slice(1) !== id) history.replaceState(null, "", "#" + id);
  Array.prototype.forEach.call(ui.rows.querySelectorAll("tr"), function (tr) {
    tr.classList.toggle("selected", tr.dataset.id === id);
  });
  return loadDetail();
}
function loadDetail() {
  const id = desk.selected;
  if (!id) return Promise.resolve();
  return api.get("/api/cases/" + encodeURIComponent(id)).then(function (item) {
    if (desk.selected !== id) return;
    const before = desk.detail;
    if (desk.form && before && before.status !== item.status) desk.form = null; // it moved on meanwhile
    desk.detail = item;
    desk.detailLoads += 1;
    renderDetail();
  }, function (e) {
    clear(ui.detail).appendChild(ops.errorBox(e));
  });
}

function fact(label, value, id) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", null, label), h("dd", id ? { id: id } : null, value)];
}
function renderDetail(error) {
  const c = desk.detail;
  const now = Date.now();
  const overdue = ops.isOverdue(c, now);
  const actions = ops.actionsFor(c);
  const formBox = h("div", { class: "c-form-box", id: "c-form-box" });
  const errorBox = h("div", { class: "c-error", id: "c-error" }, error ? ops.errorBox(error) : null);
  const head = h("div", { class: "c-head" },
    h("h2", null, ops.typeLabel(c.type), h("span", { class: "mono c-id", id: "c-id" }, c.id)),
    h("div", { class: "c-badges" }, ops.severityBadge(c.severity), ops.statusBadge(c.status),
      h("span", { class: "badge badge-tier" }, ops.tierLabel(c.level)),
      overdue ? h("span", { class: "badge badge-overdue" }, t("case.overdue")) : null,
      c.late && !overdue ? h("span", { class: "badge badge-late" }, t("case.late")) : null),
    c.title ? h("p", { class: "c-title" }, c.title) : null);
  const buttons = h("div", { class: "c-actions", id: "c-actions" }, actions.length ? actions.map(function (a) {
    return h("button", { type: "button", dataset: { action: a },
      class: "btn " + (PRIMARY.indexOf(a) >= 0 ? "btn-primary" : a === "cancel" || a === "reopen" ? "btn-danger" : "btn-secondary") +
        (desk.form === a ? " active" : ""),
      onclick: function () { desk.form = desk.form === a ? null : a; renderForm(formBox); } }, ops.actionLabel(a));
  }) : h("span", { class: "muted", id: "c-no-actions" }, ops.session.user && ops.session.user.authenticated ?
    t(config.openStatuses.indexOf(c.status) >= 0 ? "console.case.no_actions_role" : "console.case.done") :
    t("console.case.login_to_act")));
  const facts = h("dl", { class: "facts" },
    fact(t("case.place"), c.cell.path || c.cell.code),
    fact(t("case.cell"), h("span", { class: "mono" }, c.cell.code)),
    fact(t("case.assignee"), c.assignee, "c-assignee"),
    fact(t("case.responsible"), c.responsible),
    fact(t("case.source"), t("source." + (c.source === "manual" ? "manual" : "anomaly")) +
      (c.reporter && c.reporter !== "system" ? " \u00b7 " + c.reporter : "") +
      (c.anomaly_count ? " \u00b7 " + t("case.anomalies", { n: c.anomaly_count }) : "")),
    fact(t("case.created"), i18n.when(c.created_at)),
    fact(t("case.due"), c.due_at ? h("span", { class: overdue ? "overdue" : "" }, i18n.when(c.due_at) + " (" +
      i18n.relative(c.due_at) + ")") : null),
    fact(t("case.escalations"), c.escalations ? String(c.escalations) : null),
    fact(t("case.description"), c.description),
    fact(t("case.cancel_reason"), c.cancel_reason ? ops.reasonLabel(c.cancel_reason) : null),
    fact(t("case.feedback"), c.feedback, "c-feedback"),
    fact(t("case.photo"), c.photo_url ? h("a", { href: c.photo_url, target: "_blank", rel: "noopener noreferrer" },
      c.photo_url) : null),
    fact(t("case.satisfaction"), c.satisfaction ? h("span", { class: "stars" }, "\u2605".repeat(c.satisfaction) +
      "\u2606".repeat(5 - c.satisfaction)) : null));
  // A form being filled in survives a live update of its case (the status did not change).
  const kept = document.getElementById("action-form");
  const mapKey = c.id + " " + c.severity + " " + (c.location ? c.location.lat + "," + c.location.lon : "");
  const keptMap = miniMap && miniMap.caseKey === mapKey ? document.getElementById("c-map") : null;
  const mapBox = keptMap || h("div", { class: "c-map", id: "c-map" });
  const timeline = h("ol", { class: "timeline", id: "c-timeline" }, c.timeline.map(timelineItem));
  clear(ui.detail).appendChild(h("section", { class: "c-detail", dataset: { id: c.id, status: c.status } },
    head, buttons, formBox, errorBox,
    h("div", { class: "c-body" }, facts, mapBox),
    h("h3", null, t("console.case.timeline")), timeline));
  if (kept && kept.dataset.action === desk.form) formBox.appendChild(kept);
  else renderForm(formBox);
  if (keptMap) miniMap.invalidateSize();
  else drawMiniMap(mapBox, c, mapKey);
}
function timelineItem(row) {
  const d = row.details || {};
  const extra = [];
  if (d.assignee) extra.push(t("timeline.assignee", { name: d.assignee }));
  if (d.reason) extra.push(ops.reasonLabel(d.reason));
  if (d.rule) extra.push(t("timeline.rule", { rule: d.rule }));
  if (d.to_level) extra.push(t("timeline.escalated", { level: ops.tierLabel(d.to_level) }));
  if (d.severity) extra.push(ops.severityLabel(d.severity));
  if (d.satisfaction) extra.push("\u2605".repeat(d.satisfaction));
  return h("li", { class: "tl tl-" + row.action, dataset: { action: row.action } },
    h("div", { class: "tl-head" }, h("b", null, ops.actionLabel(row.action)),
      row.from_status && row.from_status !== row.to_status ?
        h("span", { class: "tl-move" }, ops.statusLabel(row.from_status) + " \u2192 " + ops.statusLabel(row.to_status)) : null,
      h("span", { class: "tl-actor" }, actorLabel(row.actor)), h("time", null, i18n.when(row.at))),
    row.note ? h("div", { class: "tl-note" }, row.note) : null,
    extra.length ? h("div", { class: "tl-extra" }, extra.join(" \u00b7 ")) : null,
    d.photo_url ? h("a", { href: d.photo_url, target: "_blank", rel: "noopener noreferrer", class: "tl-photo" },
      t("case.photo")) : null);
}
function actorLabel(actor) {
  if (actor === "system") return t("actor.system");
  if (actor === "system:escalation") return t("actor.escalation");
  if (actor === "system:auto-dispatch") return t("actor.auto_dispatch");
  return actor;
}

// -- actions -----------------------------------------------------------------------------
function field(name, required, c) {
  const id = "a-" + name;
  let input;
  if (name === "note") {
    input = h("textarea", { id: id, name: name, rows: "3", required: required, maxlength: "4000",
      placeholder: t("form.note_hint." + (desk.form === "handle" ? "handle" : desk.form === "reopen" ? "reopen" : "any")) });
  } else if (name === "reason") {
    input = h("select", { id: id, name: name, required: required },
      h("option", { value: "" }, t("form.choose")),
      config.cancelReasons.map(function (r) { return h("option", { value: r }, ops.reasonLabel(r)); }));
  } else if (name === "assignee") {
    input = h("input", { id: id, name: name, required: required, autocomplete: "off",
      placeholder: desk.form === "dispatch" ? t("form.assignee_default", { name: c.assignee || c.responsible || "" }) :
        t("form.assignee_hint") });
  } else if (name === "photo_url") {
    input = h("input", { id: id, name: name, type: "url", placeholder: "https://" });
  } else if (name === "satisfaction") {
    input = h("div", { class: "stars-input", id: id, role: "radiogroup" }, [1, 2, 3, 4, 5].map(function (n) {
      return h("label", null, h("input", { type: "radio", name: "satisfaction", value: String(n), required: required }),
        h("span", null, "\u2605 " + n));
    }));
  }
  return h("div", { class: "form-field" }, h("label", { for: id }, t("field." + name) + (required ? " *" : "")), input);
}
function renderForm(box) {
  clear(box);
  Array.prototype.forEach.call(document.querySelectorAll("#c-actions button"), function (b) {
    b.classList.toggle("active", b.dataset.action === desk.form);
  });
  if (!desk.form) return;
  const action = desk.form, c = desk.detail;
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "a-submit" },
    t("form.confirm", { action: ops.actionLabel(action) }));
  const form = h("form", { class: "action-form", id: "action-form", dataset: { action: action },
    onsubmit: function (e) {
      e.preventDefault();
      const data = new FormData(form);
      const fields = {};
      data.forEach(function (value, key) { fields[key] = value; });
      submit.disabled = true;
      act(action, fields).then(null, function () { submit.disabled = false; });
    } },
    h("h4", null, t("form.title." + action)),
    FORMS[action].map(function (f) { return field(f[0], f[1], c); }),
    h("div", { class: "form-buttons" }, submit,
      h("button", { type: "button", class: "btn btn-ghost", onclick: function () { desk.form = null; renderForm(box); } },
        t("form.cancel"))));
  box.appendChild(form);
  const first = form.querySelector("textarea, input, select");
  if (first) first.focus();
}
/* Take `action` on the open case with the form's fields; a refusal is shown above the case. */
function act(action, fields) {
  const c = desk.detail;
  const body = { action: action };
  Object.keys(fields || {}).forEach(function (k) {
    const v = typeof fields[k] === "string" ? fields[k].trim() : fields[k];
    if (v === "" || v === null || v === undefined) return;
    body[k] = k === "satisfaction" ? Number(v) : v;
  });
  return api.post("/api/cases/" + encodeURIComponent(c.id) + "/transitions", body).then(function (item) {
    desk.form = null;
    ops.toast(t("console.done", { id: item.id, action: ops.actionLabel(action), status: ops.statusLabel(item.status) }), "ok");
    scheduleList();
    return loadDetail();
  }, function (e) {
    const keepForm = e.status === 422;
    if (!keepForm) desk.form = null;
    return (e.status === 409 ? api.get("/api/cases/" + encodeURIComponent(c.id)).then(function (fresh) {
      desk.detail = fresh;
    }, function () {}) : Promise.resolve()).then(function () {
      renderDetail(e);
      throw e;
    });
  });
}
desk.act = function (action, fields) { return act(action, fields).then(function () { return true; }, function (e) { return e.status; }); };

// -- the small map ----------------------------------------------------------------------
function cells() {
  cellsPromise = cellsPromise || api.get(withCrs("/api/cells"));
  return cellsPromise;
}
function drawMiniMap(box, c, key) {
  if (miniMap) { miniMap.remove(); miniMap = null; }
  const map = (miniMap = L.map(box, { zoomControl: true, attributionControl: hasAttribution, zoomSnap: 0.25 }));
  map.caseKey = key;
  const b = config.grid.bounds;
  if (c.location) map.setView(toMap(c.location.lat, c.location.lon), 16);
  else if (b) map.fitBounds(mapBounds(b));
  else map.setView([0, 0], 2);
  addBasemap(map);
  const color = ops.levelColor(c.severity);
  cells().then(function (collection) {
    if (miniMap !== map) return;
    const own = collection.features.filter(function (f) { return f.properties.code === c.cell.code; });
    // The cells around it, whatever street they belong to: those within a few cells' width.
    const box = own.length ? L.geoJSON(own).getBounds().pad(2.5) : null;
    const near = box ? collection.features.filter(function (f) {
      const ring = f.geometry && f.geometry.coordinates[0];
      return ring && box.contains([ring[0][1], ring[0][0]]);
    }) : [];
    L.geoJSON(near, { style: { color: "#8795a6", weight: 0.8, fillColor: "#dfe6ee", fillOpacity: 0.5 },
                      interactive: false }).addTo(map);
    const target = L.geoJSON(own, { style: { color: color, weight: 3, fillColor: color, fillOpacity: 0.45 } })
      .bindTooltip(h("span", null, c.cell.name || c.cell.code)).addTo(map); // an element: names are text, not HTML
    if (c.location) L.circleMarker(toMap(c.location.lat, c.location.lon), { radius: 6, color: "#1d2733", weight: 2,
      fillColor: "#ffffff", fillOpacity: 1 }).addTo(map);
    if (own.length) map.fitBounds(target.getBounds().pad(0.8), { maxZoom: 17 });
  }, function (e) { console.warn("console: loading cells failed:", e.message); });
}

// -- manual report ----------------------------------------------------------------------
function openReport() {
  const error = h("div", { class: "c-error" });
  const type = h("input", { id: "r-type", name: "type", required: true, list: "r-types", pattern: "[a-z0-9][a-z0-9_]*",
                            placeholder: "pothole" });
  const severity = h("select", { id: "r-severity", name: "severity" },
    h("option", { value: "warning" }, ops.severityLabel("warning")),
    h("option", { value: "critical" }, ops.severityLabel("critical")));
  const cell = h("input", { id: "r-cell", name: "cell", required: true, pattern: "[0-9]{15}",
                            value: desk.filters.cell.trim(), placeholder: "410204001001001" });
  const title = h("input", { id: "r-title", name: "title", maxlength: "200" });
  const description = h("textarea", { id: "r-description", name: "description", rows: "3", maxlength: "4000" });
  const dialog = h("div", { class: "modal", id: "report-dialog", role: "dialog", "aria-modal": "true" },
    h("form", { class: "card modal-card", onsubmit: function (e) {
      e.preventDefault();
      clear(error);
      api.post("/api/cases", { type: type.value.trim(), severity: severity.value, cell: cell.value.trim(),
                               title: title.value.trim(), description: description.value.trim() }).then(function (item) {
        dialog.remove();
        ops.toast(t("console.report.done", { id: item.id }), "ok");
        loadList();
        select(item.id);
      }, function (e) { error.appendChild(ops.errorBox(e)); });
    } },
      h("h2", null, t("console.report.title")),
      h("datalist", { id: "r-types" }, REPORT_TYPES.map(function (k) { return h("option", { value: k }, ops.typeLabel(k)); })),
      h("div", { class: "form-field" }, h("label", { for: "r-type" }, t("field.type") + " *"), type),
      h("div", { class: "form-field" }, h("label", { for: "r-severity" }, t("field.severity")), severity),
      h("div", { class: "form-field" }, h("label", { for: "r-cell" }, t("field.cell") + " *"), cell),
      h("div", { class: "form-field" }, h("label", { for: "r-title" }, t("field.title")), title),
      h("div", { class: "form-field" }, h("label", { for: "r-description" }, t("field.description")), description),
      error,
      h("div", { class: "form-buttons" }, h("button", { type: "submit", class: "btn btn-primary", id: "r-submit" },
        t("console.report.submit")),
        h("button", { type: "button", class: "btn btn-ghost", onclick: function () { dialog.remove(); } }, t("form.cancel")))));
  document.body.appendChild(dialog);
  type.focus();
}

// -- live ---------------------------------------------------------------------------------
function onCase(change) {
  const id = change.case_id;
  const shown = desk.cases.some(function (c) { return c.id === id; });
  if (shown || change.action === "report" || desk.offset === 0) scheduleList();
  if (id === desk.selected) loadDetail();
}
function setLive(state) {
  ui.live.dataset.state = state;
  ui.live.title = t("live." + state);
}

// -- start --------------------------------------------------------------------------------
function render() {
  const app = clear(document.getElementById("app"));
  app.appendChild(ops.header("console"));
  if (!ops.session.user.authenticated) {
    app.appendChild(ops.loginCard({ title: t("console.title"), hint: t("console.login_hint"), onLogin: function () {
      ops.me().then(render);
    } }));
    return;
  }
  ui.filters = h("div", { class: "filters-box" }, filterBar());
  ui.rows = h("tbody", { id: "case-rows" });
  ui.count = h("span", { class: "muted", id: "list-count" });
  ui.prev = h("button", { type: "button", class: "btn btn-ghost", id: "page-prev", onclick: function () {
    desk.offset = Math.max(0, desk.offset - PAGE); loadList(); } }, t("console.list.prev"));
  ui.next = h("button", { type: "button", class: "btn btn-ghost", id: "page-next", onclick: function () {
    desk.offset += PAGE; loadList(); } }, t("console.list.next"));
  ui.live = h("span", { class: "live-dot", id: "live-dot", dataset: { state: "connecting" } });
  ui.detail = h("div", { class: "detail-pane", id: "case-detail" },
    h("div", { class: "placeholder" }, t("console.case.pick")));
  const roleNote = ops.can("case.dispatch") ? null : h("div", { class: "alert alert-info", id: "role-note" },
    ops.session.user.role === "grid_worker" ? h("span", null, t("console.role_worker"), " ",
      h("a", { href: "/worker" }, t("nav.worker"))) : t("console.role_readonly"));
  app.appendChild(h("main", { class: "console" },
    h("section", { class: "list-pane" }, roleNote, ui.filters,
      h("div", { class: "table-wrap" }, h("table", { class: "cases" },
        h("thead", null, h("tr", null, ["id", "type", "severity", "status", "place", "assignee", "due", "updated"]
          .map(function (k) { return h("th", { class: "col-" + k }, t("console.col." + k)); }))),
        ui.rows)),
      h("div", { class: "list-foot" }, ui.live, ui.count, ui.prev, ui.next)),
    ui.detail));
  loadList().then(function () {
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted) select(wanted);
    else if (desk.cases.length) select(desk.cases[0].id);
  });
  connect({ case: onCase, status: setLive, resync: function () { loadList(); loadDetail(); } });
  setInterval(function () { if (desk.cases.length) renderList(); }, 30000); // deadlines come closer
}

ops.me().then(render);
