/* GridTwin map wall: the colours of cells, shared by the wall and its replay.

   COLORS                  the palette (levels from the server's configuration)
   level(level)            a cell level's colour (normal is muted: a calm wall should not shout)
   stops(name, values)     colour stops of a metric: from its thresholds, else from the values shown
   metric(name, value, stops)   a value's colour on those stops
   legend(mode, stops)     the legend's entries for a colouring mode ("cases", "level", "metric:NAME") */
import { config } from "../lib/config.js";
import { h } from "../lib/dom.js";
import * as i18n from "../lib/i18n.js";
import { t } from "../lib/i18n.js";
import * as ops from "./common.js";

export const COLORS = {
  critical: config.levels.critical,
  warning: config.levels.warning,
  normal: "#1f5a44",
  no_data: "#2b3542",
  quiet: "#17344a", // no open case
  border: "#09111a",
  overdue: "#ff4fd8",
  noValue: "#26303b",
};
const LOW = "#1f5f8b", MID = "#2a9d8f", HIGH = "#e9c46a";

function hex(c) { return [1, 3, 5].map(function (i) { return parseInt(c.slice(i, i + 2), 16); }); }
function mix(a, b, f) {
  const x = hex(a), y = hex(b);
  return "#" + x.map(function (v, i) {
    const n = Math.round(v + (y[i] - v) * f);
    return (n < 16 ? "0" : "") + n.toString(16);
  }).join("");
}

export function stops(name, values) {
  const m = config.metrics[name];
  if (m.warning !== null && m.critical !== null) {
    const w = m.warning, c = m.critical;
    if (m.direction === "below") return [[c, COLORS.critical], [w, COLORS.warning], [w * 1.2, MID], [w * 1.6, LOW]];
    return [[w * 0.5, LOW], [w * 0.85, MID], [w, COLORS.warning], [c, COLORS.critical]];
  }
  let lo = Infinity, hi = -Infinity;
  values.forEach(function (v) {
    if (typeof v === "number") { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  });
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (hi === lo) hi = lo + 1;
  return [[lo, LOW], [(lo + hi) / 2, MID], [hi, HIGH]];
}

function ramp(points, value) {
  if (value <= points[0][0]) return points[0][1];
  for (let i = 1; i < points.length; i++) {
    if (value <= points[i][0]) {
      const f = (value - points[i - 1][0]) / (points[i][0] - points[i - 1][0]);
      return mix(points[i - 1][1], points[i][1], f);
    }
  }
  return points[points.length - 1][1];
}

export function metric(name, value, points) {
  if (value === undefined || value === null) return COLORS.noValue;
  if (config.metrics[name].kind === "bool") return value ? COLORS.critical : COLORS.normal;
  return ramp(points, value);
}

export function level(name) {
  return COLORS[name] || COLORS.no_data;
}

function swatch(color, text, outline) {
  return h("li", null, h("span", { class: "sw" + (outline ? " sw-outline" : ""),
    style: outline ? { borderColor: color } : { background: color } }), text);
}

export function legend(mode, points) {
  if (mode === "level") {
    return ["critical", "warning", "normal", "no_data"].map(function (l) { return swatch(level(l), t("level." + l)); });
  }
  if (mode === "cases") {
    return [swatch(COLORS.critical, t("wall.legend.critical")), swatch(COLORS.warning, t("wall.legend.warning")),
            swatch(COLORS.quiet, t("wall.legend.quiet")), swatch(COLORS.overdue, t("wall.legend.overdue"), true)];
  }
  const name = mode.slice(7);
  const none = swatch(COLORS.noValue, t("wall.legend.no_value"));
  if (config.metrics[name].kind === "bool") {
    return [swatch(COLORS.critical, t("common.yes")), swatch(COLORS.normal, t("common.no")), none];
  }
  const gradient = "linear-gradient(90deg," + points.map(function (p) { return p[1]; }).join(",") + ")";
  return [h("li", { class: "ramp" }, h("span", { class: "ramp-bar", style: { background: gradient } }),
    h("span", { class: "ramp-labels" }, points.map(function (p) { return h("span", null, i18n.number(p[0], 0)); })),
    h("span", { class: "ramp-unit" }, ops.metricUnit(name))), none];
}

