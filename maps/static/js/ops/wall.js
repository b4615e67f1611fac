/* GridTwin map wall: every cell coloured by its open cases (worst severity), its level or a
   metric; the KPIs of the day for the whole grid or the district, street or community in
   view; a live ticker of anomalies and case changes; a new critical case brought into
   focus; a slider replaying the last 24 hours of cell levels.

   The palette and legend are in wall-colors.js, the replay bar in wall-replay.js, the ticker in
   wall-ticker.js; this file puts the wall together and keeps its state, `wall`, which the tests
   and the wall benchmark read by importing this module. */
import * as api from "../lib/api.js";
import { config } from "../lib/config.js";
import { clear, h } from "../lib/dom.js";
import * as i18n from "../lib/i18n.js";
import { t } from "../lib/i18n.js";
import { addBasemap, hasAttribution, mapBounds, withCrs } from "../lib/basemap.js";
import { L } from "../lib/leaflet.js";
import { connect, isStale } from "../lib/live.js";
import * as ops from "./common.js";
import * as colors from "./wall-colors.js";
import { replayBar } from "./wall-replay.js";
import { ticker as tickerOf } from "./wall-ticker.js";

const COLORS = colors.COLORS;
const KPI_DEBOUNCE_MS = 1500;

export const wall = {
  map: null,
  cells: {}, // code -> Leaflet polygon (its feature.properties is the cell)
  hierarchy: null,
  scope: "", // "" for the whole grid, else a district, street or community code
  cases: {}, // open cases: id -> case
  byCell: {}, // code -> {id: case}
  marks: {}, // code -> {rank, overdue, count}
  mode: "cases", // "cases", "level" or "metric:<name>"
  kpiRows: [],
  history: null,
  replay: null, // frame index while replaying, else null
  replayLevels: null,
  focusSeconds: config.focusSeconds,
  focused: null,
  timings: {},
  ready: false,
  status: "connecting",
  caseEvents: 0,
  stream: null, // the live stream (lib/live.js); its `source` is the EventSource
};
let renderer = null;
let focusTimer = null, pulse = null, kpiTimer = null, replay = null, ticker = null;
const ui = {};

// -- layout --------------------------------------------------------------------------
function tile(id, wide) {
  ui[id] = { value: h("div", { class: "tile-value", id: "kpi-" + id + "-value" }, t("common.none")),
             sub: h("div", { class: "tile-sub", id: "kpi-" + id + "-sub" }) };
  return h("div", { class: "tile" + (wide ? " tile-wide" : ""), id: "kpi-" + id },
    h("div", { class: "tile-label" }, t("wall.kpi." + id)), ui[id].value, ui[id].sub);
}

function build() {
  const app = document.getElementById("app");
  ui.crumbs = h("nav", { class: "w-crumbs", id: "w-crumbs", "aria-label": t("wall.scope") });
  ui.status = h("span", { class: "live", id: "w-status", dataset: { state: "connecting" } },
    h("i"), ui.statusText = h("span", { id: "w-status-text" }, t("live.connecting")));
  ui.clock = h("time", { class: "w-clock", id: "w-clock" });
  ui.units = h("ol", { class: "w-units", id: "w-units" });
  ui.unitsTitle = h("h2", { id: "w-units-title" });
  ui.ticker = h("ol", { class: "w-ticker", id: "w-ticker" }, h("li", { class: "empty" }, t("wall.ticker.empty")));
  ticker = tickerOf(ui.ticker, focusCell);
  ui.legend = h("div", { class: "w-legend", id: "w-legend" });
  ui.banner = h("div", { class: "w-focus", id: "w-focus", hidden: true, role: "alert" });
  replay = replayBar(wall, { restyle: restyle, restyleAll: restyleAll, legend: renderLegend });
  wall.showFrame = replay.showFrame;
  wall.goLive = replay.goLive;

  app.appendChild(h("div", { class: "w-grid" },
    h("header", { class: "w-top" },
      h("div", { class: "w-brand" }, h("span", { class: "brand-mark" }),
        h("h1", null, config.title, h("span", { class: "w-brand-page" }, t("wall.title"))),
        h("span", { class: "w-sub" }, config.grid.name)),
      ui.crumbs,
      h("div", { class: "w-top-right" }, ui.status, ui.clock, ops.langToggle())),
    h("aside", { class: "w-side w-kpi", id: "w-kpi" },
      h("h2", null, t("wall.kpi.title"), h("span", { class: "w-kpi-scope", id: "w-kpi-scope" })),
      h("div", { class: "tiles" }, tile("open", true), tile("overdue"), tile("resolution"), tile("on_time"),
        tile("satisfaction"), tile("accuracy")),
      ui.unitsTitle, ui.units),
    h("main", { class: "w-map-box" }, h("div", { id: "w-map", class: "w-map" }), ui.legend, ui.banner,
      replay.badge),
    h("aside", { class: "w-side w-feed" }, h("h2", null, t("wall.ticker.title")), ui.ticker),
    h("footer", { class: "w-time", id: "w-time" }, replay.bar)));
}

// -- colours ------------------------------------------------------------------------
let stopsCache = null; // of the metric shown; computed again when the mode changes
function metricStops(name) {
  return colors.stops(name, Object.keys(wall.cells).map(function (code) {
    return wall.cells[code].feature.properties.values[name];
  }));
}
function metricColor(name, value) {
  stopsCache = stopsCache || metricStops(name);
  return colors.metric(name, value, stopsCache);
}
const levelColor = colors.level;

function styleOf(props) {
  const code = props.code;
  const inScope = !wall.scope || code.lastIndexOf(wall.scope, 0) === 0;
  const style = { renderer: renderer, color: COLORS.border, weight: 0.6, opacity: inScope ? 0.9 : 0.25,
                  fillOpacity: inScope ? 0.92 : 0.22 };
  if (wall.replayLevels) {
    style.fillColor = levelColor(wall.replayLevels[code] || (props.level === "no_data" ? "no_data" : "normal"));
    return style;
  }
  if (wall.mode === "cases") {
    const mark = wall.marks[code];
    style.fillColor = !mark ? COLORS.quiet : mark.rank === 2 ? COLORS.critical : COLORS.warning;
    if (mark && mark.overdue) {
      style.color = COLORS.overdue;
      style.weight = 3;
      style.opacity = 1;
    }
  } else if (wall.mode === "level") {
    style.fillColor = levelColor(props.level);
  } else {
    style.fillColor = metricColor(wall.mode.slice(7), props.values[wall.mode.slice(7)]);
  }
  return style;
}
function restyle(code) {
  const layer = wall.cells[code];
  if (layer) layer.setStyle(styleOf(layer.feature.properties));
}
function restyleAll() {
  stopsCache = null;
  Object.keys(wall.cells).forEach(restyle);
}

// -- legend and colouring mode ------------------------------------------------------
function renderLegend() {
  const select = h("select", { id: "w-mode", "aria-label": t("wall.mode.label"), onchange: function () {
    setMode(select.value);
  } },
    h("option", { value: "cases" }, t("wall.mode.cases")),
    h("option", { value: "level" }, t("wall.mode.level")),
    Object.keys(config.metrics).map(function (name) {
      return h("option", { value: "metric:" + name }, t("wall.mode.metric", { metric: ops.metricLabel(name) }));
    }));
  select.value = wall.mode;
  const mode = wall.replayLevels ? "level" : wall.mode;
  const stops = mode.lastIndexOf("metric:", 0) === 0 ? metricStops(mode.slice(7)) : null;
  clear(ui.legend).appendChild(select);
  ui.legend.appendChild(h("ul", null, colors.legend(mode, stops)));
}
function setMode(mode) {
  wall.mode = mode;
  restyleAll();
  renderLegend();
}
wall.setMode = setMode;

// -- cells ----------------------------------------------------------------------------
function drawCells(collection) {
  const layer = L.geoJSON(collection, {
    style: function (feature) { return styleOf(feature.properties); },
    onEachFeature: function (feature, polygon) { wall.cells[feature.properties.code] = polygon; },
  });
  layer.on("click", function (e) { onCellClick(e.layer.feature.properties.code, e.latlng); });
  layer.addTo(wall.map);
  wall.hierarchy = ops.hierarchy(collection.features);
}
function applyCell(state) {
  const layer = wall.cells[state.code];
  if (!layer) return;
  const props = layer.feature.properties;
  if (isStale(state, props)) return;
  props.level = state.level;
  props.values = state.values || {};
  props.updated_at = state.updated_at;
  props.open_anomalies = state.open_anomalies || 0;
  if (wall.mode !== "cases" && !wall.replayLevels) restyle(state.code);
}

// -- cases ----------------------------------------------------------------------------
function markCell(code) {
  const held = wall.byCell[code] || {};
  const ids = Object.keys(held);
  const before = wall.marks[code];
  let mark = null;
  if (ids.length) {
    const now = Date.now();
    mark = { rank: 0, overdue: false, count: ids.length };
    ids.forEach(function (id) {
      mark.rank = Math.max(mark.rank, ops.severityRank(held[id].severity));
      mark.overdue = mark.overdue || ops.isOverdue(held[id], now);
    });
  }
  if (mark) wall.marks[code] = mark;
  else delete wall.marks[code];
  const changed = !before !== !mark || (before && mark && (before.rank !== mark.rank || before.overdue !== mark.overdue));
  if (changed && wall.mode === "cases" && !wall.replayLevels) restyle(code);
}
function holdCase(item) {
  const code = item.cell.code;
  const open = config.openStatuses.indexOf(item.status) >= 0;
  if (open) {
    wall.cases[item.id] = item;
    (wall.byCell[code] = wall.byCell[code] || {})[item.id] = item;
  } else {
    delete wall.cases[item.id];
    if (wall.byCell[code]) {
      delete wall.byCell[code][item.id];
      if (!Object.keys(wall.byCell[code]).length) delete wall.byCell[code];
    }
  }
  markCell(code);
}
function loadCases() {
  return ops.allCases({ status: config.openStatuses }).then(function (list) {
    const cells = Object.keys(wall.byCell);
    wall.cases = {};
    wall.byCell = {};
    list.forEach(function (item) {
      wall.cases[item.id] = item;
      (wall.byCell[item.cell.code] = wall.byCell[item.cell.code] || {})[item.id] = item;
    });
    cells.concat(Object.keys(wall.byCell)).forEach(markCell);
  });
}
function onCase(change) {
  const item = change.case;
  if (!item || !item.cell) return;
  wall.caseEvents += 1;
  const before = wall.cases[item.id];
  holdCase(item);
  renderKpi();
  renderUnits();
  scheduleKpi();
  if (change.action !== "merge" || (before && before.severity !== item.severity)) ticker.change(change);
  const becameCritical = item.severity === "critical" && (change.action === "report" ||
    (change.action === "merge" && before && before.severity !== "critical"));
  if (becameCritical && config.openStatuses.indexOf(item.status) >= 0) focusCase(item);
}
// Deadlines pass without any event: look again every few seconds.
function recheckOverdue() {
  Object.keys(wall.byCell).forEach(markCell);
  renderKpi();
}

// -- KPIs --------------------------------------------------------------------------
function midnight() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}
function loadKpi() {
  return api.get("/api/kpi" + api.query({ level: "grid", from: midnight().toISOString() })).then(function (body) {
    wall.kpiRows = body.rows;
    wall.kpiAt = body.computed_at;
    renderKpi();
  });
}
function scheduleKpi() {
  clearTimeout(kpiTimer);
  kpiTimer = setTimeout(function () { loadKpi().catch(warn("kpi")); }, KPI_DEBOUNCE_MS);
}
/* The day's figures of the cells under `prefix`, summed from the per-cell rows. */
function figures(prefix) {
  const s = { cases: 0, cancelled: 0, resolved: 0, onTime: 0, evaluated: 0, satisfaction: 0, decided: 0, falseAlarms: 0 };
  wall.kpiRows.forEach(function (r) {
    if (r.code.lastIndexOf(prefix, 0) !== 0) return;
    s.cases += r.cases;
    s.cancelled += r.cancelled;
    s.resolved += r.resolved;
    s.onTime += Math.round((r.on_time_rate || 0) * r.resolved);
    s.evaluated += r.evaluated;
    s.satisfaction += (r.mean_satisfaction || 0) * r.evaluated;
    s.decided += r.warnings_decided;
    s.falseAlarms += r.false_alarms;
  });
  const real = s.cases - s.cancelled;
  return {
    sums: s,
    resolution: real ? s.resolved / real : null,
    onTime: s.resolved ? s.onTime / s.resolved : null,
    satisfaction: s.evaluated ? s.satisfaction / s.evaluated : null,
    accuracy: s.decided ? (s.decided - s.falseAlarms) / s.decided : null,
  };
}
function openCounts(prefix) {
  const now = Date.now();
  const c = { total: 0, critical: 0, warning: 0, overdue: 0 };
  Object.keys(wall.cases).forEach(function (id) {
    const item = wall.cases[id];
    if (item.cell.code.lastIndexOf(prefix, 0) !== 0) return;
    c.total += 1;
    c[item.severity === "critical" ? "critical" : "warning"] += 1;
    if (ops.isOverdue(item, now)) c.overdue += 1;
  });
  return c;
}
function setTile(id, value, sub, state) {
  ui[id].value.textContent = value;
  clear(ui[id].sub);
  if (sub) ui[id].sub.appendChild(typeof sub === "string" ? document.createTextNode(sub) : sub);
  const box = ui[id].value.parentNode;
  box.dataset.state = state || "";
  if (value === t("common.none")) box.dataset.empty = "";
  else delete box.dataset.empty;
}
function renderKpi() {
  const prefix = wall.scope;
  const open = openCounts(prefix), f = figures(prefix);
  wall.figures = { open: open, today: f };
  setTile("open", String(open.total), h("span", { class: "split" },
    h("span", { class: "sev sev-critical", id: "kpi-open-critical" }, h("b", null, String(open.critical)), " ",
      t("severity.critical")),
    h("span", { class: "sev sev-warning", id: "kpi-open-warning" }, h("b", null, String(open.warning)), " ",
      t("severity.warning"))), open.critical ? "alert" : "");
  setTile("overdue", String(open.overdue), t("wall.kpi.overdue_sub"), open.overdue ? "alert" : "");
  setTile("resolution", i18n.percent(f.resolution),
    t("wall.kpi.resolution_sub", { resolved: f.sums.resolved, real: f.sums.cases - f.sums.cancelled }));
  setTile("on_time", i18n.percent(f.onTime), t("wall.kpi.on_time_sub", { n: f.sums.resolved }));
  setTile("satisfaction", f.satisfaction === null ? t("common.none") : i18n.number(f.satisfaction, 1),
    t("wall.kpi.satisfaction_sub", { n: f.sums.evaluated }));
  setTile("accuracy", i18n.percent(f.accuracy), t("wall.kpi.accuracy_sub", { n: f.sums.decided }));
  document.getElementById("w-kpi-scope").textContent = scopeName(wall.scope);
}

// -- drill-down -----------------------------------------------------------------------
function scopeName(code) {
  if (!code) return t("wall.scope.all");
  const unit = wall.hierarchy && wall.hierarchy.units[code];
  return unit ? unit.name : code;
}
function scopeBounds(code) {
  if (!code && config.grid.bounds) return L.latLngBounds(mapBounds(config.grid.bounds));
  const codes = code ? (wall.hierarchy.units[code] || { cells: [] }).cells : Object.keys(wall.cells);
  let bounds = null;
  codes.forEach(function (c) {
    const b = wall.cells[c] && wall.cells[c].getBounds();
    if (b) bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
  });
  return bounds;
}
/* Fit the cells in view beside the legend or above it, whichever leaves them larger. */
function fitScope(animate) {
  const bounds = scopeBounds(wall.scope);
  if (!bounds) return;
  const pad = 24, lw = ui.legend.offsetWidth + pad, lh = ui.legend.offsetHeight + pad;
  const choices = [{ paddingTopLeft: [pad, pad], paddingBottomRight: [pad, pad + lh] },
                   { paddingTopLeft: [pad + lw, pad], paddingBottomRight: [pad, pad] }];
  const zoomOf = function (c) {
    return wall.map.getBoundsZoom(bounds, false, L.point(c.paddingTopLeft).add(c.paddingBottomRight));
  };
  const best = zoomOf(choices[1]) > zoomOf(choices[0]) ? choices[1] : choices[0];
  wall.map.fitBounds(bounds, Object.assign({ animate: !!animate }, best));
}
function setScope(code) {
  wall.scope = code || "";
  restyleAll();
  renderCrumbs();
  renderKpi();
  renderUnits();
  if (wall.map) wall.map.closePopup();
  fitScope(true);
}
wall.setScope = setScope;

function renderCrumbs() {
  clear(ui.crumbs);
  const chain = [""];
  [6, 9, 12].forEach(function (n) { if (wall.scope.length >= n) chain.push(wall.scope.slice(0, n)); });
  chain.forEach(function (code, i) {
    if (i) ui.crumbs.appendChild(h("span", { class: "sep" }, "\u203a"));
    const last = i === chain.length - 1;
    ui.crumbs.appendChild(h("button", { type: "button", class: "crumb" + (last ? " current" : ""),
      dataset: { code: code }, disabled: last, onclick: function () { setScope(code); } }, scopeName(code)));
  });
}
function childUnits() {
  const hier = wall.hierarchy;
  if (!wall.scope) return hier.top.map(function (c) { return hier.units[c]; });
  const unit = hier.units[wall.scope];
  if (!unit) return [];
  if (unit.depth < 3) return unit.children.map(function (c) { return hier.units[c]; });
  return unit.cells.filter(function (c) { return wall.byCell[c]; }).map(function (c) {
    return { code: c, name: wall.cells[c].feature.properties.name || c, cells: [c], cell: true };
  });
}
function renderUnits() {
  if (!wall.hierarchy) return;
  const depth = wall.scope.length;
  ui.unitsTitle.textContent = t(depth === 0 ? "wall.units.districts" : depth === 6 ? "wall.units.streets" :
    depth === 9 ? "wall.units.communities" : "wall.units.cells");
  const rows = childUnits().map(function (unit) {
    const c = openCounts(unit.code);
    return { unit: unit, counts: c };
  });
  rows.sort(function (a, b) {
    return b.counts.critical - a.counts.critical || b.counts.total - a.counts.total ||
      (a.unit.code < b.unit.code ? -1 : 1);
  });
  clear(ui.units);
  if (!rows.length) ui.units.appendChild(h("li", { class: "empty" }, t("wall.units.none")));
  rows.slice(0, 12).forEach(function (r) {
    ui.units.appendChild(h("li", { dataset: { code: r.unit.code }, onclick: function () {
      if (r.unit.cell) focusCell(r.unit.code);
      else setScope(r.unit.code);
    } },
      h("span", { class: "u-name" }, r.unit.name),
      h("span", { class: "u-counts" },
        r.counts.critical ? h("b", { class: "sev-critical" }, String(r.counts.critical)) : null,
        h("b", { class: r.counts.total ? "u-open" : "u-zero" }, String(r.counts.total)))));
  });
}
function onCellClick(code, latlng) {
  const depth = wall.scope.length;
  if (wall.scope && code.lastIndexOf(wall.scope, 0) !== 0) {
    setScope(code.slice(0, depth));
    return;
  }
  const next = { 0: 6, 6: 9, 9: 12 }[depth];
  if (next) setScope(code.slice(0, next));
  else cellPopup(code, latlng);
}
function cellPopup(code, latlng) {
  const layer = wall.cells[code];
  const p = layer.feature.properties;
  const held = wall.byCell[code] || {};
  const cases = Object.keys(held).map(function (id) { return held[id]; });
  const values = Object.keys(p.values || {}).sort().map(function (name) {
    return h("tr", null, h("th", null, ops.metricLabel(name)),
      h("td", null, i18n.number(p.values[name], 2) + " " + ops.metricUnit(name)));
  });
  const body = h("div", { class: "w-popup" },
    h("h3", null, p.name || code), h("div", { class: "mono" }, code), h("div", { class: "muted" }, p.path),
    p.worker ? h("div", null, t("wall.popup.worker", { name: p.worker })) : null,
    h("div", { class: "w-popup-cases" }, cases.length ? cases.map(function (c) {
      return h("div", null, ops.severityBadge(c.severity), " ", ops.typeLabel(c.type), " \u00b7 ",
        ops.statusLabel(c.status), " \u00b7 ", h("span", { class: "mono" }, c.id));
    }) : t("wall.popup.no_cases")),
    values.length ? h("table", null, values) : null);
  L.popup({ maxWidth: 420, className: "w-leaflet-popup" }).setLatLng(latlng || layer.getCenter())
    .setContent(body).openOn(wall.map);
}
function focusCell(code) {
  const layer = wall.cells[code];
  if (!layer) return;
  wall.map.fitBounds(layer.getBounds(), { maxZoom: 17, padding: [60, 60] });
  cellPopup(code);
}

// -- focus on a new critical case ----------------------------------------------------
function focusCase(item) {
  const layer = wall.cells[item.cell.code];
  if (!layer) return;
  wall.focused = { id: item.id, code: item.cell.code, at: Date.now() };
  clear(ui.banner).appendChild(h("div", null,
    h("span", { class: "w-focus-tag" }, t("wall.focus.tag")),
    h("b", null, ops.typeLabel(item.type)), " \u00b7 ", ops.place(item.cell, 3),
    h("span", { class: "mono" }, " " + item.id)));
  ui.banner.hidden = false;
  if (pulse) pulse.remove();
  pulse = L.marker(layer.getCenter(), { interactive: false, keyboard: false,
    icon: L.divIcon({ className: "w-pulse", html: "<span></span><span></span>", iconSize: [24, 24] }) });
  pulse.addTo(wall.map);
  wall.map.flyToBounds(layer.getBounds(), { maxZoom: 17, padding: [120, 120], duration: 1.0 });
  clearTimeout(focusTimer);
  focusTimer = setTimeout(unfocus, wall.focusSeconds * 1000);
}
function unfocus() {
  wall.focused = null;
  ui.banner.hidden = true;
  if (pulse) { pulse.remove(); pulse = null; }
  fitScope(true);
}
wall.unfocus = unfocus;

// -- status and clock --------------------------------------------------------------------
function setStatus(state) {
  wall.status = state;
  ui.status.dataset.state = state;
  ui.statusText.textContent = t("live." + state);
}
function tickClock() {
  const now = new Date();
  ui.clock.textContent = i18n.day(now) + " " + i18n.clockSeconds(now);
}
function warn(what) {
  return function (e) { console.warn("wall: loading " + what + " failed:", e.message); };
}

function resync() {
  api.get("/api/cells?geometry=false").then(function (body) {
    body.features.forEach(function (f) { applyCell(f.properties); });
  }).catch(warn("cells"));
  loadCases().then(function () { renderKpi(); renderUnits(); }).catch(warn("cases"));
  loadKpi().catch(warn("kpi"));
}

// -- start ------------------------------------------------------------------------------
function start() {
  build();
  tickClock();
  setInterval(tickClock, 1000);
  renderer = L.canvas({ padding: 0.2, tolerance: 2 });
  wall.map = L.map("w-map", { zoomControl: false, attributionControl: hasAttribution, zoomSnap: 0.25,
                              preferCanvas: true, renderer: renderer, minZoom: 3 });
  wall.basemap = addBasemap(wall.map, { scheme: "dark" });
  renderLegend();
  // The view is set once before the cells come: fitting it again later would draw them all twice.
  if (config.grid.bounds) fitScope(false);
  else wall.map.setView([0, 0], 2);

  const pendingCases = []; // case changes heard before the open cases were loaded
  wall.stream = connect({ status: setStatus, resync: resync, cell: function (s) { if (wall.ready) applyCell(s); },
               anomaly: function (a) { ticker.anomaly(a); }, case: function (c) { if (wall.ready) onCase(c); else pendingCases.push(c); } });
  const t0 = performance.now();
  const cases = loadCases().then(function () { wall.timings.casesLoaded = performance.now() - t0; });
  const kpi = loadKpi().then(function () { wall.timings.kpiLoaded = performance.now() - t0; });
  const cells = api.get(withCrs("/api/cells")).then(function (collection) {
    wall.timings.cellsLoaded = performance.now() - t0;
    drawCells(collection);
    wall.timings.cellsDrawn = performance.now() - t0;
  });
  Promise.all([cells, cases, kpi]).then(function () {
    renderCrumbs();
    renderKpi();
    renderUnits();
    wall.ready = true;
    pendingCases.splice(0).forEach(onCase);
    requestAnimationFrame(function () {
      wall.timings.ready = performance.now();
      wall.timings.readyFromStart = performance.now() - t0;
    });
    ticker.seed().catch(warn("ticker"));
    replay.load().catch(warn("history"));
  }).catch(function (e) {
    if (e.status === 401) showLogin();
    else { setStatus("offline"); console.warn("wall: loading failed:", e.message); }
  });
  setInterval(recheckOverdue, 10000);
  setInterval(function () { loadKpi().catch(warn("kpi")); }, 60000);
  setInterval(function () { if (wall.replay === null) replay.load().catch(warn("history")); }, 300000);
}

/* Only when the server makes everyone log in (auth.anonymous = "none"). */
function showLogin() {
  const overlay = h("div", { class: "w-login" }, ops.loginCard({ title: t("wall.title"), hint: t("wall.login_hint"),
    onLogin: function () { location.reload(); } }));
  document.body.appendChild(overlay);
}

start();
