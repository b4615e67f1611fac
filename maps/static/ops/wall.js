/* GridTwin map wall: every cell coloured by its open cases (worst severity), its level or a
   metric; the KPIs of the day for the whole grid or the district, street or community in
   view; a live ticker of anomalies and case changes; a new critical case brought into
   focus; a slider replaying the last 24 hours of cell levels.

   window.gtwall exposes the state for tests and the wall benchmark. */
(function () {
  "use strict";
  const ops = window.gtops, t = ops.t, h = ops.h, config = ops.config;

  const COLORS = {
    critical: config.levels.critical,
    warning: config.levels.warning,
    normal: "#1f5a44", // a muted green: a wall of calm cells should not shout
    no_data: "#2b3542",
    quiet: "#17344a", // no open case
    border: "#09111a",
    overdue: "#ff4fd8",
    noValue: "#26303b",
  };
  const TICKER_ITEMS = 14;
  const HISTORY_STEP = "5m";
  const KPI_DEBOUNCE_MS = 1500;

  const wall = (window.gtwall = {
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
  });
  let renderer = null;
  let focusTimer = null, pulse = null, kpiTimer = null, playTimer = null;
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
    ui.legend = h("div", { class: "w-legend", id: "w-legend" });
    ui.banner = h("div", { class: "w-focus", id: "w-focus", hidden: true, role: "alert" });
    ui.replayBadge = h("div", { class: "w-replay-badge", id: "w-replay-badge", hidden: true });
    ui.slider = h("input", { type: "range", id: "w-slider", min: "0", max: "0", value: "0", step: "1",
                             "aria-label": t("wall.replay.slider"), oninput: onSlide });
    ui.histogram = h("div", { class: "w-histogram", id: "w-histogram" });
    ui.timeLabel = h("div", { class: "w-time-label", id: "w-time-label" }, t("wall.replay.hint"));
    ui.play = h("button", { class: "w-btn", id: "w-play", type: "button", onclick: togglePlay,
                            title: t("wall.replay.play") }, "\u25b6");
    ui.live = h("button", { class: "w-btn w-btn-live active", id: "w-live", type: "button", onclick: goLive },
      t("wall.replay.live"));

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
        ui.replayBadge),
      h("aside", { class: "w-side w-feed" }, h("h2", null, t("wall.ticker.title")), ui.ticker),
      h("footer", { class: "w-time", id: "w-time" }, ui.play,
        h("div", { class: "w-slider-box" }, ui.histogram, ui.slider), ui.timeLabel, ui.live)));
  }

  // -- colours ------------------------------------------------------------------------
  function hex(c) { return [1, 3, 5].map(function (i) { return parseInt(c.slice(i, i + 2), 16); }); }
  function mix(a, b, f) {
    const x = hex(a), y = hex(b);
    return "#" + x.map(function (v, i) {
      const n = Math.round(v + (y[i] - v) * f);
      return (n < 16 ? "0" : "") + n.toString(16);
    }).join("");
  }
  /* Colour stops of a metric: its thresholds when it has them, else the span of the values shown. */
  function metricStops(name) {
    const m = config.metrics[name];
    if (m.warning !== null && m.critical !== null) {
      const w = m.warning, c = m.critical;
      const stops = [[w * 0.5, "#1f5f8b"], [w * 0.85, "#2a9d8f"], [w, COLORS.warning], [c, COLORS.critical]];
      return m.direction === "below" ? [[c, COLORS.critical], [w, COLORS.warning], [w * 1.2, "#2a9d8f"],
                                        [w * 1.6, "#1f5f8b"]] : stops;
    }
    let lo = Infinity, hi = -Infinity;
    Object.keys(wall.cells).forEach(function (code) {
      const v = wall.cells[code].feature.properties.values[name];
      if (typeof v === "number") { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    });
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (hi === lo) hi = lo + 1;
    return [[lo, "#1f5f8b"], [(lo + hi) / 2, "#2a9d8f"], [hi, "#e9c46a"]];
  }
  function rampColor(stops, value) {
    if (value <= stops[0][0]) return stops[0][1];
    for (let i = 1; i < stops.length; i++) {
      if (value <= stops[i][0]) {
        const f = (value - stops[i - 1][0]) / (stops[i][0] - stops[i - 1][0]);
        return mix(stops[i - 1][1], stops[i][1], f);
      }
    }
    return stops[stops.length - 1][1];
  }
  let stopsCache = null;
  function metricColor(name, value) {
    if (value === undefined || value === null) return COLORS.noValue;
    const m = config.metrics[name];
    if (m.kind === "bool") return value ? COLORS.critical : COLORS.normal;
    stopsCache = stopsCache || metricStops(name);
    return rampColor(stopsCache, value);
  }
  function levelColor(level) {
    return COLORS[level] || COLORS.no_data;
  }

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
  function swatch(color, text, outline) {
    return h("li", null, h("span", { class: "sw" + (outline ? " sw-outline" : ""),
      style: outline ? { borderColor: color } : { background: color } }), text);
  }
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
    let items;
    if (wall.replayLevels || wall.mode === "level") {
      items = ["critical", "warning", "normal", "no_data"].map(function (l) { return swatch(levelColor(l), t("level." + l)); });
    } else if (wall.mode === "cases") {
      items = [swatch(COLORS.critical, t("wall.legend.critical")), swatch(COLORS.warning, t("wall.legend.warning")),
               swatch(COLORS.quiet, t("wall.legend.quiet")), swatch(COLORS.overdue, t("wall.legend.overdue"), true)];
    } else {
      const name = wall.mode.slice(7), m = config.metrics[name];
      if (m.kind === "bool") {
        items = [swatch(COLORS.critical, t("common.yes")), swatch(COLORS.normal, t("common.no")),
                 swatch(COLORS.noValue, t("wall.legend.no_value"))];
      } else {
        const stops = metricStops(name);
        const gradient = "linear-gradient(90deg," + stops.map(function (s) { return s[1]; }).join(",") + ")";
        items = [h("li", { class: "ramp" }, h("span", { class: "ramp-bar", style: { background: gradient } }),
          h("span", { class: "ramp-labels" }, stops.map(function (s) { return h("span", null, ops.number(s[0], 0)); })),
          h("span", { class: "ramp-unit" }, ops.metricUnit(name))),
                 swatch(COLORS.noValue, t("wall.legend.no_value"))];
      }
    }
    ops.clear(ui.legend).appendChild(select);
    ui.legend.appendChild(h("ul", null, items));
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
    if (change.action !== "merge" || (before && before.severity !== item.severity)) tickCase(change);
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
    return ops.get("/api/kpi" + ops.query({ level: "grid", from: midnight().toISOString() })).then(function (body) {
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
    ops.clear(ui[id].sub);
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
    setTile("resolution", ops.percent(f.resolution),
      t("wall.kpi.resolution_sub", { resolved: f.sums.resolved, real: f.sums.cases - f.sums.cancelled }));
    setTile("on_time", ops.percent(f.onTime), t("wall.kpi.on_time_sub", { n: f.sums.resolved }));
    setTile("satisfaction", f.satisfaction === null ? t("common.none") : ops.number(f.satisfaction, 1),
      t("wall.kpi.satisfaction_sub", { n: f.sums.evaluated }));
    setTile("accuracy", ops.percent(f.accuracy), t("wall.kpi.accuracy_sub", { n: f.sums.decided }));
    document.getElementById("w-kpi-scope").textContent = scopeName(wall.scope);
  }

  // -- drill-down -----------------------------------------------------------------------
  function scopeName(code) {
    if (!code) return t("wall.scope.all");
    const unit = wall.hierarchy && wall.hierarchy.units[code];
    return unit ? unit.name : code;
  }
  function scopeBounds(code) {
    if (!code && config.grid.bounds) return L.latLngBounds(config.grid.bounds);
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
    ops.clear(ui.crumbs);
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
    ops.clear(ui.units);
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
        h("td", null, ops.number(p.values[name], 2) + " " + ops.metricUnit(name)));
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
    ops.clear(ui.banner).appendChild(h("div", null,
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

  // -- ticker -----------------------------------------------------------------------------
  /* Put an entry on the ticker: on top, or below the others (`older`, when filling it at start). */
  function tick(entry, older) {
    const empty = ui.ticker.querySelector(".empty");
    if (empty) empty.remove();
    const item = h("li", { class: "tk tk-" + entry.kind + " sev-" + (entry.severity || "none"),
                           dataset: { kind: entry.kind, action: entry.action || "" } },
      h("div", { class: "tk-head" }, h("span", { class: "tk-tag" }, entry.tag),
        h("span", { class: "tk-title" }, entry.title), h("time", null, ops.clock(entry.at))),
      h("div", { class: "tk-sub" }, entry.sub));
    if (entry.code) item.addEventListener("click", function () { focusCell(entry.code); });
    if (older) {
      if (ui.ticker.children.length < TICKER_ITEMS) ui.ticker.appendChild(item);
      return;
    }
    ui.ticker.insertBefore(item, ui.ticker.firstChild);
    while (ui.ticker.children.length > TICKER_ITEMS) ui.ticker.removeChild(ui.ticker.lastChild);
  }
  function anomalyEntry(a) {
    const metric = a.metric ? ops.metricLabel(a.metric) : "";
    const figure = a.value !== null && a.value !== undefined && a.metric ?
      t(a.threshold !== null && a.threshold !== undefined ? "wall.ticker.value_threshold" : "wall.ticker.value",
        { metric: metric, value: ops.number(a.value, 1), unit: ops.metricUnit(a.metric),
          threshold: ops.number(a.threshold, 1) }) : "";
    return { kind: "anomaly", severity: a.severity, tag: t("wall.ticker.anomaly"), title: ops.typeLabel(a.type),
             sub: [ops.place(a.cell), figure].filter(Boolean).join(" \u00b7 "), at: a.ts, code: a.cell && a.cell.code };
  }
  function onAnomaly(a) {
    if (a.status !== "opened" || a.category === "device_health") return;
    tick(anomalyEntry(a));
  }
  function caseEntry(change) {
    const item = change.case;
    let sub = ops.place(item.cell) + " \u00b7 " + item.id;
    if (change.action === "dispatch" || change.action === "reassign") sub += " \u2192 " + (item.assignee || "");
    if (change.action === "escalate") sub += " \u2192 " + ops.tierLabel(item.level);
    if (change.action === "evaluate" && item.satisfaction) sub += " \u00b7 " + "\u2605".repeat(item.satisfaction);
    return { kind: "case", action: change.action, severity: item.severity,
             tag: t("wall.ticker.case." + (change.action === "report" ? "report" : "change"),
                    { action: ops.actionLabel(change.action) }),
             title: ops.typeLabel(item.type), sub: sub, at: change.at, code: item.cell.code };
  }
  function tickCase(change) { tick(caseEntry(change)); }
  function seedTicker() {
    return Promise.all([ops.get("/api/events?limit=10"), ops.get("/api/cases?limit=6")]).then(function (r) {
      const entries = r[0].events.filter(function (a) { return a.status === "opened" && a.category !== "device_health"; })
        .map(anomalyEntry)
        .concat(r[1].cases.map(function (c) { return caseEntry({ action: "report", at: c.created_at, case: c }); }));
      entries.sort(function (a, b) { return new Date(b.at) - new Date(a.at); });
      entries.forEach(function (entry) { tick(entry, true); }); // below anything heard live meanwhile
    });
  }

  // -- replay -----------------------------------------------------------------------------
  function loadHistory() {
    return ops.get("/api/cells/history" + ops.query({ step: HISTORY_STEP })).then(function (body) {
      wall.history = body;
      const live = wall.replay === null;
      ui.slider.max = String(body.frames.length);
      if (live) ui.slider.value = ui.slider.max;
      gtcharts.histogram(ui.histogram, body.frames.map(function (f) { return [f.critical, f.warning]; }),
        [COLORS.critical, COLORS.warning]);
    });
  }
  function levelsAt(index) {
    const levels = {};
    for (let i = 0; i <= index; i++) Object.assign(levels, wall.history.frames[i].changes);
    return levels;
  }
  function showFrame(index) {
    const frames = wall.history.frames;
    const entering = wall.replay === null;
    const before = wall.replayLevels || {};
    wall.replay = index;
    wall.replayLevels = levelsAt(index);
    if (entering) restyleAll();
    else {
      const touched = Object.assign({}, before, wall.replayLevels);
      Object.keys(touched).forEach(function (code) {
        if (before[code] !== wall.replayLevels[code]) restyle(code);
      });
    }
    const start = new Date(frames[index].t), end = new Date(start.getTime() + wall.history.step * 1000);
    ui.timeLabel.textContent = ops.clock(start) + "\u2013" + ops.clock(end);
    ui.replayBadge.hidden = false;
    ui.replayBadge.textContent = t("wall.replay.badge", { day: ops.day(start), from: ops.clock(start), to: ops.clock(end),
      critical: frames[index].critical, warning: frames[index].warning });
    ui.live.classList.remove("active");
    document.body.classList.add("replaying");
    if (String(ui.slider.value) !== String(index)) ui.slider.value = String(index);
    if (entering) renderLegend();
  }
  wall.showFrame = showFrame;
  function goLive() {
    stopPlay();
    if (wall.history) ui.slider.value = String(wall.history.frames.length);
    if (wall.replay === null) return;
    wall.replay = null;
    wall.replayLevels = null;
    restyleAll();
    renderLegend();
    ui.timeLabel.textContent = t("wall.replay.hint");
    ui.replayBadge.hidden = true;
    ui.live.classList.add("active");
    document.body.classList.remove("replaying");
  }
  wall.goLive = goLive;
  function onSlide() {
    if (!wall.history) return;
    const index = Number(ui.slider.value);
    if (index >= wall.history.frames.length) goLive();
    else showFrame(index);
  }
  function stopPlay() {
    clearInterval(playTimer);
    playTimer = null;
    ui.play.textContent = "\u25b6";
    ui.play.classList.remove("active");
  }
  function togglePlay() {
    if (!wall.history) return;
    if (playTimer) { stopPlay(); return; }
    let index = wall.replay === null ? 0 : wall.replay;
    showFrame(index);
    ui.play.textContent = "\u275a\u275a";
    ui.play.classList.add("active");
    playTimer = setInterval(function () {
      index += 1;
      if (index >= wall.history.frames.length) goLive();
      else showFrame(index);
    }, 250);
  }

  // -- status and clock --------------------------------------------------------------------
  function setStatus(state) {
    wall.status = state;
    ui.status.dataset.state = state;
    ui.statusText.textContent = t("live." + state);
  }
  function tickClock() {
    const now = new Date();
    ui.clock.textContent = ops.day(now) + " " + ops.clockSeconds(now);
  }
  function warn(what) {
    return function (e) { console.warn("wall: loading " + what + " failed:", e.message); };
  }

  function resync() {
    ops.get("/api/cells?geometry=false").then(function (body) {
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
    wall.map = L.map("w-map", { zoomControl: false, attributionControl: !!config.tiles, zoomSnap: 0.25,
                                preferCanvas: true, renderer: renderer, minZoom: 3 });
    ops.addTiles(wall.map);
    renderLegend();
    // The view is set once before the cells come: fitting it again later would draw them all twice.
    if (config.grid.bounds) fitScope(false);
    else wall.map.setView([0, 0], 2);

    const pendingCases = []; // case changes heard before the open cases were loaded
    ops.stream({ status: setStatus, resync: resync, cell: function (s) { if (wall.ready) applyCell(s); },
                 anomaly: onAnomaly, case: function (c) { if (wall.ready) onCase(c); else pendingCases.push(c); } });
    const t0 = performance.now();
    const cases = loadCases().then(function () { wall.timings.casesLoaded = performance.now() - t0; });
    const kpi = loadKpi().then(function () { wall.timings.kpiLoaded = performance.now() - t0; });
    const cells = ops.get("/api/cells").then(function (collection) {
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
      seedTicker().catch(warn("ticker"));
      loadHistory().catch(warn("history"));
    }).catch(function (e) {
      if (e.status === 401) showLogin();
      else { setStatus("offline"); console.warn("wall: loading failed:", e.message); }
    });
    setInterval(recheckOverdue, 10000);
    setInterval(function () { loadKpi().catch(warn("kpi")); }, 60000);
    setInterval(function () { if (wall.replay === null) loadHistory().catch(warn("history")); }, 300000);
  }

  /* Only when the server makes everyone log in (auth.anonymous = "none"). */
  function showLogin() {
    const overlay = h("div", { class: "w-login" }, ops.loginCard({ title: t("wall.title"), hint: t("wall.login_hint"),
      onLogin: function () { location.reload(); } }));
    document.body.appendChild(overlay);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
