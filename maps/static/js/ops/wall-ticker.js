/* GridTwin map wall: the ticker of new anomalies and case changes, newest on top.

   ticker(list, onPick) fills the <ol> `list` and returns {anomaly(a), change(c), seed()};
   a click on an entry calls onPick(cell code). */
import * as api from "../lib/api.js";
import { h } from "../lib/dom.js";
import * as i18n from "../lib/i18n.js";
import { t } from "../lib/i18n.js";
import * as ops from "./common.js";
const ITEMS = 14;

function anomalyEntry(a) {
  const metric = a.metric ? ops.metricLabel(a.metric) : "";
  const figure = a.value !== null && a.value !== undefined && a.metric ?
    t(a.threshold !== null && a.threshold !== undefined ? "wall.ticker.value_threshold" : "wall.ticker.value",
      { metric: metric, value: i18n.number(a.value, 1), unit: ops.metricUnit(a.metric),
        threshold: i18n.number(a.threshold, 1) }) : "";
  return { kind: "anomaly", severity: a.severity, tag: t("wall.ticker.anomaly"), title: ops.typeLabel(a.type),
           sub: [ops.place(a.cell), figure].filter(Boolean).join(" \u00b7 "), at: a.ts, code: a.cell && a.cell.code };
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

function incident(a) {
  return a.status === "opened" && a.category !== "device_health"; // device health is for technicians
}

export function ticker(list, onPick) {
  /* An entry on top, or below the others (`older`, when filling the ticker at start). */
  function add(entry, older) {
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const item = h("li", { class: "tk tk-" + entry.kind + " sev-" + (entry.severity || "none"),
                           dataset: { kind: entry.kind, action: entry.action || "" } },
      h("div", { class: "tk-head" }, h("span", { class: "tk-tag" }, entry.tag),
        h("span", { class: "tk-title" }, entry.title), h("time", null, i18n.clock(entry.at))),
      h("div", { class: "tk-sub" }, entry.sub));
    if (entry.code) item.addEventListener("click", function () { onPick(entry.code); });
    if (older) {
      if (list.children.length < ITEMS) list.appendChild(item);
      return;
    }
    list.insertBefore(item, list.firstChild);
    while (list.children.length > ITEMS) list.removeChild(list.lastChild);
  }

  return {
    anomaly: function (a) { if (incident(a)) add(anomalyEntry(a)); },
    change: function (change) { add(caseEntry(change)); },
    /* The latest anomalies and cases, below anything heard live meanwhile. */
    seed: function () {
      return Promise.all([api.get("/api/events?limit=10"), api.get("/api/cases?limit=6")]).then(function (r) {
        const entries = r[0].events.filter(incident).map(anomalyEntry).concat(r[1].cases.map(function (c) {
          return caseEntry({ action: "report", at: c.created_at, case: c });
        }));
        entries.sort(function (a, b) { return new Date(b.at) - new Date(a.at); });
        entries.forEach(function (entry) { add(entry, true); });
      });
    },
  };
}
