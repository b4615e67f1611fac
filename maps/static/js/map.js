/* GridTwin map page: draws the cells and devices on the folium-made Leaflet map and keeps them live
   from the server's event stream.

   The page carries its configuration in <script id="gridtwin-config">: either URLs to fetch (cellsUrl,
   devicesUrl, eventsUrl, streamUrl) or the data itself (cells, devices) for a standalone snapshot, and
   the basemap it draws under the cells (lib/basemap.js; over GCJ-02 tiles the server shifts the cells
   and devices it sends).
   `view` is the page's state: the map and a code -> layer index (the tests and the map benchmark read
   it by importing this module). */
import { get } from "./lib/api.js";
import { config } from "./lib/config.js";
import { byId, h } from "./lib/dom.js";
import { clockSeconds, day, t } from "./lib/i18n.js";
import { addBasemap, withCrs } from "./lib/basemap.js";
import { L } from "./lib/leaflet.js";
import { connect, isStale } from "./lib/live.js";

export const view = {
  map: null,
  cells: {}, // cell code -> Leaflet polygon layer
  counts: {}, // level -> number of cells
  status: "connecting",
  updates: 0, // cell events applied
  resyncs: 0, // snapshots taken after the stream came back
  stream: null, // the live stream (lib/live.js); its `source` is the EventSource
  timings: null,
};
let pending = null; // events that arrived before the cells were drawn
let renderer = null;

function time(iso) {
  if (!iso) return t("map.never");
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toDateString() === new Date().toDateString() ? clockSeconds(d) : day(d).slice(5) + " " + clockSeconds(d);
}

function anomalyTitle(a) {
  const metric = a.metric && config.metrics[a.metric];
  if (!metric) {
    const words = String(a.type || "anomaly").replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  return /_high$/.test(a.type) ? t("map.high", { metric: metric.label }) :
    /_low$/.test(a.type) ? t("map.low", { metric: metric.label }) : metric.label;
}

function placeName(cell) {
  if (!cell) return "";
  const parts = String(cell.path || "").split(" > ");
  return parts.length > 1 ? parts.slice(-2).join(" \u203a ") : cell.name || cell.code;
}

const levelStyle = (level) => config.levels[level] || config.levels.no_data;

function cellStyle(props) {
  return { renderer, fillColor: levelStyle(props.level).color, fillOpacity: props.level === "no_data" ? 0.45 : 0.72,
           color: "#ffffff", opacity: 0.9, weight: 1 };
}

function valueRow(name, value) {
  const metric = config.metrics[name] || { label: name, unit: "", kind: "number" };
  const shown = metric.kind === "bool" ? t(value ? "common.yes" : "common.no") :
    (Math.round(value * 100) / 100).toString() + (metric.unit ? " " + metric.unit : "");
  return h("tr", null, h("th", null, metric.label), h("td", null, shown));
}

function swatch(color) {
  return h("span", { class: "gt-swatch", style: { background: color } });
}

function cellPopup(props) {
  const rows = Object.keys(props.values || {}).sort().map((name) => valueRow(name, props.values[name]));
  const style = levelStyle(props.level);
  const open = props.open_anomalies;
  return h("div", { class: "gt-popup" },
    h("h3", null, props.name || props.code),
    h("div", { class: "gt-code" }, props.code),
    h("div", { class: "gt-path" }, props.path),
    h("div", { class: "gt-level" }, swatch(style.color), style.label,
      open ? [" \u00b7 ", h("b", null, t(open === 1 ? "map.open_anomaly" : "map.open_anomalies", { n: open }))] : null),
    rows.length ? h("table", { class: "gt-values" }, rows) : h("div", { class: "gt-muted" }, t("map.no_readings")),
    h("div", { class: "gt-muted" }, t("map.updated", { time: time(props.updated_at) })));
}

function devicePopup(d) {
  const kind = config.kinds[d.kind] || { label: d.kind };
  return h("div", { class: "gt-popup" },
    h("h3", null, d.name || d.id),
    h("div", { class: "gt-code" }, [d.id, kind.label, d.model].filter(Boolean).join(" \u00b7 ")),
    h("div", { class: "gt-path" }, d.cell ? d.cell.path || d.cell.code : t("map.no_cell")),
    h("div", { class: "gt-muted" }, t("map.device_seen", { status: d.status, time: time(d.last_seen) })));
}

// -- counts and status -------------------------------------------------------------------
function showCounts() {
  for (const item of document.querySelectorAll("#gt-legend li[data-level]")) {
    item.querySelector(".gt-count").textContent = view.counts[item.getAttribute("data-level")] || 0;
  }
}

function setStatus(state) {
  view.status = state;
  const box = byId("gt-status");
  if (!box) return;
  box.setAttribute("data-state", state);
  byId("gt-status-text").textContent = t({ snapshot: "map.snapshot", failed: "map.load_failed" }[state] ||
                                         "live." + state);
}

// -- cells -------------------------------------------------------------------------------
function openCellPopup(polygon, latlng) {
  // One popup for the whole map rather than one bound to each of (maybe) 10,000 cells.
  view.popup = view.popup || L.popup({ maxWidth: 320 });
  view.popupCell = polygon.feature.properties.code;
  view.popup.setLatLng(latlng || polygon.getCenter()).setContent(cellPopup(polygon.feature.properties)).openOn(view.map);
}

function drawCells(collection) {
  const layer = L.geoJSON(collection, {
    style: (feature) => cellStyle(feature.properties),
    onEachFeature: (feature, polygon) => {
      const props = feature.properties;
      view.cells[props.code] = polygon;
      view.counts[props.level] = (view.counts[props.level] || 0) + 1;
    },
  });
  layer.on("click", (e) => openCellPopup(e.layer, e.latlng));
  layer.addTo(view.map);
  view.cellLayer = layer;
  showCounts();
}

function applyState(state) {
  const polygon = view.cells[state.code];
  if (!polygon) return;
  const props = polygon.feature.properties;
  if (isStale(state, props)) return;
  if (props.level !== state.level) {
    view.counts[props.level] = (view.counts[props.level] || 1) - 1;
    view.counts[state.level] = (view.counts[state.level] || 0) + 1;
  }
  props.level = state.level;
  props.values = state.values || {};
  props.updated_at = state.updated_at;
  props.open_anomalies = state.open_anomalies || 0;
  polygon.setStyle(cellStyle(props));
  if (view.popupCell === state.code && view.popup.isOpen()) view.popup.setContent(cellPopup(props));
  view.updates += 1;
  showCounts();
}

function onCellEvent(state) {
  if (pending) pending.push(state);
  else applyState(state);
}

// -- devices -----------------------------------------------------------------------------
function drawDevices(devices) {
  const group = L.featureGroup();
  for (const d of devices) {
    if (d.lat == null || d.lon == null) continue; // mobile devices have no fixed place
    const kind = config.kinds[d.kind] || config.kinds.sensor;
    L.circleMarker([d.lat, d.lon], {
      renderer, radius: kind.radius, fillColor: kind.fill, color: kind.stroke, weight: 1.5,
      fillOpacity: d.status === "offline" || d.status === "disabled" ? 0.45 : 1,
      className: "gt-device gt-device-" + d.kind,
    }).bindPopup(devicePopup(d)).addTo(group);
  }
  group.addTo(view.map);
  view.deviceLayer = group;
  const summary = byId("gt-summary");
  if (summary) summary.textContent = t("map.summary", { cells: Object.keys(view.cells).length, devices: devices.length });
}

// -- anomalies ---------------------------------------------------------------------------
function showAnomaly(a) {
  const list = byId("gt-feed-list");
  if (!list) return;
  const empty = list.querySelector(".gt-empty");
  if (empty) empty.remove();
  const cleared = a.status === "cleared";
  const item = h("li", { class: "gt-anomaly " + (cleared ? "gt-cleared" : "gt-" + a.severity), onclick: () => {
    const polygon = a.cell && view.cells[a.cell.code];
    if (polygon) {
      view.map.fitBounds(polygon.getBounds(), { maxZoom: 17 });
      openCellPopup(polygon);
    }
  } },
    h("div", { class: "gt-anomaly-head" }, swatch(levelStyle(cleared ? "normal" : a.severity).color),
      h("b", null, anomalyTitle(a)), cleared ? " " + t("map.cleared") : "",
      h("span", { class: "gt-time" }, time(a.ts))),
    h("div", { class: "gt-anomaly-cell" }, placeName(a.cell)),
    h("div", { class: "gt-anomaly-why" }, a.explanation));
  list.insertBefore(item, list.firstChild);
  while (list.children.length > 6) list.removeChild(list.lastChild);
}

// -- loading and the live stream ---------------------------------------------------------
async function resync() {
  // Events sent while the stream was down are gone; the current states are not.
  const collection = await get(config.cellsUrl + "?geometry=false");
  collection.features.forEach((f) => applyState(f.properties));
  view.resyncs += 1;
}

async function load() {
  const started = performance.now();
  const collection = await get(withCrs(config.cellsUrl));
  view.timings = { cellsLoaded: performance.now() - started };
  drawCells(collection);
  view.timings.cellsDrawn = performance.now() - started;
  const queued = pending;
  pending = null;
  queued.forEach(applyState);
  drawDevices((await get(withCrs(config.devicesUrl))).devices);
}

function start() {
  view.map = window[config.mapName]; // folium's set-up script names the map with a global of its own
  renderer = L.canvas({ padding: 0.5, tolerance: 4 });
  view.map.attributionControl.setPrefix(false);
  view.basemap = addBasemap(view.map);
  L.control.scale({ position: "bottomright", imperial: false }).addTo(view.map);
  if (config.cells) {
    drawCells(config.cells);
    drawDevices(config.devices || []);
    setStatus("snapshot");
    return;
  }
  pending = [];
  if (config.streamUrl) {
    view.stream = connect({
      status: setStatus,
      cell: onCellEvent,
      anomaly: showAnomaly,
      resync: () => { if (!pending) resync().catch((e) => console.warn("resync failed:", e.message)); },
    }, config.streamUrl);
  }
  load().catch((e) => { console.warn("loading the map failed:", e.message); setStatus("failed"); });
  if (config.eventsUrl) {
    get(config.eventsUrl).then((body) => body.events.slice().reverse().forEach(showAnomaly))
      .catch((e) => console.warn("loading anomalies failed:", e.message));
  }
}

start();
