/* The mobile reporter's page: log in, send a report with the phone's location, see one's reports and
   points. Everything goes through the HTTP API of the app. */
import { get, post, query } from "./lib/api.js";
import { byId, h } from "./lib/dom.js";
import { t } from "./lib/i18n.js";

export const reporter = { me: null, last: null };

async function checkLogin() {
  const me = (reporter.me = await get("/api/me"));
  const allowed = me.permissions.includes("report.submit");
  byId("gt-login").hidden = allowed;
  byId("gt-report").hidden = !allowed;
  byId("gt-mine").hidden = !allowed;
  byId("gt-who").textContent = me.authenticated ? me.name : "";
  if (allowed) refresh();
}

byId("gt-login").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  post("/api/login", { name: form.name.value, password: form.password.value })
    .then(checkLogin)
    .catch((error) => { byId("gt-login-error").textContent = error.message; });
});

byId("gt-locate").addEventListener("click", () => {
  if (!navigator.geolocation) { byId("gt-result").textContent = t("report.no_geolocation"); return; }
  navigator.geolocation.getCurrentPosition((position) => {
    const form = byId("gt-report");
    form.lat.value = position.coords.latitude.toFixed(6);
    form.lon.value = position.coords.longitude.toFixed(6);
  }, (error) => { byId("gt-result").textContent = t("report.no_location", { error: error.message }); },
  { enableHighAccuracy: true });
});

byId("gt-report").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const body = { type: form.type.value, note: form.note.value,
                 loc: { lat: Number(form.lat.value), lon: Number(form.lon.value) },
                 report_id: "web-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 8) };
  if (form.photo_url.value) body.photo_url = form.photo_url.value;
  post("/api/reports", body).then((report) => {
    reporter.last = report;
    byId("gt-result").textContent = t("report.sent", { case: report.case_id, cell: report.cell_code });
    form.note.value = "";
    refresh();
  }).catch((error) => { byId("gt-result").textContent = error.message; });
});

async function refresh() {
  try {
    const body = await get("/api/reports?limit=20");
    byId("gt-my-reports").replaceChildren(...body.reports.map((r) => h("li", null,
      r.received_at.slice(0, 16).replace("T", " ") + "  " + r.type.replace(/_/g, " ") + ": " +
      (r.confirmed ? t("report.confirmed", { points: r.points }) : r.case_status || t("report.sent_status")))));
    const district = body.reports.length ? body.reports[0].cell_code.slice(0, 6) : "";
    const board = await get("/api/reporters/leaderboard" + query({ district }));
    byId("gt-board").replaceChildren(...board.entries.map((entry) => h("li", null,
      t("report.points", { who: entry.you ? t("report.you") : entry.label, points: entry.points }))));
  } catch (error) {
    byId("gt-result").textContent = error.message;
  }
}

checkLogin().catch(() => { byId("gt-login").hidden = false; }); // 401: this server wants a login first
