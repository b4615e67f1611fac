/* GridTwin governance figures: per grid cell, street or district over a period, the figures of
   GET /api/kpi as tiles, charts and a sortable table, with the CSV export of the same query.

   `board` is the page's state, for tests. */
import * as api from "../lib/api.js";
import { config } from "../lib/config.js";
import { clear, h } from "../lib/dom.js";
import * as i18n from "../lib/i18n.js";
import { t } from "../lib/i18n.js";
import { bars, trend } from "./charts.js";
import * as ops from "./common.js";

const PERIODS = ["today", "7d", "30d", "custom"];
const COLUMNS = [
  ["name", "text"], ["cases", "int"], ["open", "int"], ["overdue", "int"], ["resolution_rate", "rate"],
  ["on_time_rate", "rate"], ["mean_satisfaction", "score"], ["warning_accuracy", "rate"],
  ["mean_time_to_dispatch_s", "duration"], ["mean_time_to_close_s", "duration"], ["escalations", "int"],
];
const CHART_ROWS = 15;
const COLORS = { rate: "#2f6fdb", onTime: "#2e9d57", dispatch: "#7c5cc4", close: "#e08a1e", cases: "#9fb3c8",
                 line: "#d62839" };

export const board = { level: "district", period: "7d", from: "", to: "", result: null, loads: 0,
                                sort: ["cases", -1], trend: null };
const ui = {};

function midnight(daysBack) {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  d.setDate(d.getDate() - (daysBack || 0));
  return d;
}
/* [from, to] of the chosen period as Dates. */
function span() {
  if (board.period === "custom" && board.from && board.to) {
    const from = new Date(board.from + "T00:00:00"), to = new Date(board.to + "T00:00:00");
    to.setDate(to.getDate() + 1); // the whole last day
    return [from, to];
  }
  const back = { today: 0, "7d": 6, "30d": 29 }[board.period] || 0;
  return [midnight(back), new Date()];
}
function params(format) {
  const s = span();
  return { level: board.level, from: s[0].toISOString(), to: s[1].toISOString(), format: format };
}

function format(kind, value) {
  if (kind === "rate") return i18n.percent(value);
  if (kind === "score") return value === null || value === undefined ? t("common.none") : i18n.number(value, 2);
  if (kind === "duration") return i18n.duration(value);
  if (kind === "int") return String(value);
  return value;
}
/* A unit's name with its parent's, since street and cell names repeat ("Street 01", "Grid 003"). */
function unitName(row) {
  const parent = config.units[row.code.slice(0, { grid: 12, street: 6 }[board.level] || 0)];
  const own = row.name || row.code;
  return parent ? parent + " \u203a " + own : own;
}

// -- controls ----------------------------------------------------------------------------
function controls() {
  const level = h("select", { id: "k-level", onchange: function () { board.level = level.value; load(); } },
    config.kpiLevels.map(function (l) { return h("option", { value: l }, t("kpi.level." + l)); }));
  level.value = board.level;
  const period = h("select", { id: "k-period", onchange: function () {
    board.period = period.value;
    custom.hidden = board.period !== "custom";
    if (board.period !== "custom") load();
  } }, PERIODS.map(function (p) { return h("option", { value: p }, t("kpi.period." + p)); }));
  period.value = board.period;
  const from = h("input", { type: "date", id: "k-from", value: board.from || i18n.day(midnight(6)) });
  const to = h("input", { type: "date", id: "k-to", value: board.to || i18n.day(new Date()) });
  const custom = h("span", { class: "custom", hidden: board.period !== "custom" },
    h("label", null, t("kpi.from"), from), h("label", null, t("kpi.to"), to),
    h("button", { type: "button", class: "btn btn-secondary", id: "k-apply", onclick: function () {
      board.from = from.value; board.to = to.value; load();
    } }, t("kpi.apply")));
  ui.csv = h("a", { class: "btn btn-secondary", id: "k-csv", download: "" }, t("kpi.csv"));
  return h("div", { class: "k-controls" },
    h("label", null, t("kpi.level"), level), h("label", null, t("kpi.period"), period), custom,
    h("span", { class: "spacer" }), ui.csv);
}

// -- figures ------------------------------------------------------------------------------
function summary(total) {
  const tiles = [
    ["cases", String(total.cases)], ["resolution_rate", i18n.percent(total.resolution_rate)],
    ["on_time_rate", i18n.percent(total.on_time_rate)],
    ["mean_satisfaction", total.mean_satisfaction === null ? t("common.none") : i18n.number(total.mean_satisfaction, 2)],
    ["warning_accuracy", i18n.percent(total.warning_accuracy)],
    ["mean_time_to_dispatch_s", i18n.duration(total.mean_time_to_dispatch_s)],
    ["mean_time_to_close_s", i18n.duration(total.mean_time_to_close_s)],
    ["escalations", String(total.escalations)], ["open", String(total.open)], ["overdue", String(total.overdue)],
  ];
  return h("div", { class: "k-tiles", id: "k-tiles" }, tiles.map(function (tile) {
    return h("div", { class: "k-tile", dataset: { key: tile[0] } }, h("div", { class: "k-tile-label" },
      t("kpi.col." + tile[0])), h("div", { class: "k-tile-value" }, tile[1]));
  }));
}
function topRows(rows) {
  return rows.slice().sort(function (a, b) { return b.cases - a.cases || (a.code < b.code ? -1 : 1); })
    .slice(0, CHART_ROWS);
}
function charts(rows) {
  const top = topRows(rows);
  const labels = top.map(unitName);
  bars(ui.rates, { title: t("kpi.chart.rates"), labels: labels, max: 1, format: i18n.percent, series: [
    { name: t("kpi.col.resolution_rate"), color: COLORS.rate, values: top.map(function (r) { return r.resolution_rate; }) },
    { name: t("kpi.col.on_time_rate"), color: COLORS.onTime, values: top.map(function (r) { return r.on_time_rate; }) },
  ] });
  bars(ui.times, { title: t("kpi.chart.times"), labels: labels, format: function (v) {
    return v === null ? t("common.none") : i18n.duration(v * 60); }, series: [
    { name: t("kpi.col.mean_time_to_dispatch_s"), color: COLORS.dispatch,
      values: top.map(function (r) { return r.mean_time_to_dispatch_s === null ? null : r.mean_time_to_dispatch_s / 60; }) },
    { name: t("kpi.col.mean_time_to_close_s"), color: COLORS.close,
      values: top.map(function (r) { return r.mean_time_to_close_s === null ? null : r.mean_time_to_close_s / 60; }) },
  ] });
}

/* One request per day of the period (at least the last 7 days): the day's cases and resolution rate. */
function loadTrend() {
  const s = span();
  const days = Math.max(7, Math.min(31, Math.round((midnight(0) - new Date(s[0]).setHours(0, 0, 0, 0)) / 864e5) + 1));
  const starts = [];
  for (let i = days - 1; i >= 0; i--) starts.push(midnight(i));
  return Promise.all(starts.map(function (day) {
    const end = new Date(day);
    end.setDate(end.getDate() + 1);
    return api.get("/api/kpi" + api.query({ level: "district", from: day.toISOString(), to: end.toISOString() }));
  })).then(function (results) {
    board.trend = results.map(function (r, i) { return { day: starts[i], total: r.total }; });
    trend(ui.trend, {
      title: t("kpi.chart.trend"),
      labels: board.trend.map(function (d) { return i18n.day(d.day).slice(5); }),
      bars: { name: t("kpi.col.cases"), color: COLORS.cases, values: board.trend.map(function (d) { return d.total.cases; }) },
      line: { name: t("kpi.col.resolution_rate"), color: COLORS.line,
              values: board.trend.map(function (d) { return d.total.resolution_rate; }) },
    });
  });
}

function table(result) {
  const key = board.sort[0], direction = board.sort[1];
  const rows = result.rows.slice().sort(function (a, b) {
    const x = key === "name" ? unitName(a) : a[key], y = key === "name" ? unitName(b) : b[key];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * direction;
  });
  const head = h("tr", null, COLUMNS.map(function (c) {
    const active = c[0] === key;
    return h("th", { class: (c[1] === "text" ? "" : "num") + (active ? " sorted" : ""), dataset: { key: c[0] },
      "aria-sort": active ? (direction > 0 ? "ascending" : "descending") : "none",
      onclick: function () {
        board.sort = [c[0], active ? -direction : (c[1] === "text" ? 1 : -1)];
        clear(ui.table).appendChild(table(board.result));
      } }, t("kpi.col." + c[0]), active ? (direction > 0 ? " \u25b2" : " \u25bc") : "");
  }));
  function tr(row, total) {
    return h("tr", { class: total ? "total" : null, dataset: { code: row.code } }, COLUMNS.map(function (c) {
      if (c[0] === "name") return h("td", { title: row.code }, total ? t("kpi.total") : unitName(row));
      return h("td", { class: "num" }, format(c[1], row[c[0]]));
    }));
  }
  return h("table", { class: "k-table", id: "k-table" }, h("thead", null, head),
    h("tbody", null, rows.length ? rows.map(function (r) { return tr(r, false); }) :
      h("tr", null, h("td", { colspan: String(COLUMNS.length) }, t("kpi.empty")))),
    h("tfoot", null, tr(result.total, true)));
}

function load() {
  ui.csv.href = "/api/kpi" + api.query(params("csv"));
  location.replace("#" + api.query({ level: board.level, period: board.period, from: board.from, to: board.to }).slice(1));
  clear(ui.error);
  return api.get("/api/kpi" + api.query(params())).then(function (result) {
    board.result = result;
    board.loads += 1;
    clear(ui.summary).appendChild(summary(result.total));
    ui.period.textContent = t("kpi.period_line", { from: i18n.when(result.from), to: i18n.when(result.to),
                                                   at: i18n.clock(result.computed_at) });
    charts(result.rows);
    clear(ui.table).appendChild(table(result));
    return loadTrend();
  }).catch(function (e) { ui.error.appendChild(ops.errorBox(e)); });
}

function start() {
  const saved = new URLSearchParams(location.hash.slice(1));
  if (config.kpiLevels.indexOf(saved.get("level")) >= 0) board.level = saved.get("level");
  if (PERIODS.indexOf(saved.get("period")) >= 0) board.period = saved.get("period");
  board.from = saved.get("from") || "";
  board.to = saved.get("to") || "";
  const app = clear(document.getElementById("app"));
  app.appendChild(ops.header("kpi"));
  ui.error = h("div", { id: "k-error" });
  ui.summary = h("div");
  ui.period = h("p", { class: "muted", id: "k-period-line" });
  ui.rates = h("div", { class: "chart", id: "chart-rates" });
  ui.times = h("div", { class: "chart", id: "chart-times" });
  ui.trend = h("div", { class: "chart chart-trend", id: "chart-trend" });
  ui.table = h("div", { class: "table-wrap" });
  app.appendChild(h("main", { class: "kpi" }, controls(), ui.error, ui.period, ui.summary,
    h("div", { class: "k-charts" },
      h("section", { class: "card" }, h("h3", null, t("kpi.chart.rates")), ui.rates),
      h("section", { class: "card" }, h("h3", null, t("kpi.chart.times")), ui.times),
      h("section", { class: "card card-wide" }, h("h3", null, t("kpi.chart.trend")), ui.trend)),
    h("section", { class: "card" }, h("h3", null, t("kpi.table")), ui.table),
    h("p", { class: "muted k-note" }, t("kpi.note"))));
  load();
}

ops.me().then(function (user) {
  if (user.role) { start(); return; }
  // auth.anonymous = "none": the figures need a login.
  const app = clear(document.getElementById("app"));
  app.appendChild(ops.header("kpi"));
  app.appendChild(ops.loginCard({ title: t("kpi.title"), onLogin: function () { ops.me().then(start); } }));
});
