/* The technician's page: the grid on a map, where a click falls, pending devices placed with one
   click, and a device's health and credentials. Everything goes through the HTTP API of the app.
   `tech` is the page's state (the tests read it by importing this module). */
import { del, get, post } from "./lib/api.js";
import { config } from "./lib/config.js";
import { byId, h } from "./lib/dom.js";
import { t } from "./lib/i18n.js";
import { addBasemap, fromMap, mapBounds, toMap, withCrs } from "./lib/basemap.js";
import { L } from "./lib/leaflet.js";

export const tech = { map: null, cells: {}, armed: null, devices: {}, me: null, marker: null, ready: false };

const deviceUrl = (id, tail) => "/api/devices/" + encodeURIComponent(id) + (tail || "");
const cellText = (cell) => (cell ? cell.code + " (" + (cell.path || cell.name) + ")" : t("tech.outside"));

// -- login -----------------------------------------------------------------------------------
async function checkLogin() {
  const me = (tech.me = await get("/api/me"));
  const allowed = me.permissions.includes("device.provision");
  byId("gt-login").hidden = allowed;
  byId("gt-who").textContent = me.authenticated ? me.name + " (" + me.role + ")" : t("tech.not_logged_in");
  if (allowed) await refreshDevices();
  return allowed;
}

byId("gt-login").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  post("/api/login", { name: form.name.value, password: form.password.value })
    .then(() => { byId("gt-login-error").textContent = ""; return checkLogin(); })
    .catch((error) => { byId("gt-login-error").textContent = error.message; });
});

// -- the map ---------------------------------------------------------------------------------
const map = (tech.map = L.map("gt-map", { zoomSnap: 0.25, zoomControl: true }));
addBasemap(map);
if (config.bounds) map.fitBounds(mapBounds(config.bounds), { padding: [12, 12] });
else map.setView([0, 0], 2);
const deviceLayer = L.layerGroup().addTo(map);

get(withCrs("/api/cells")).then((collection) => {
  L.geoJSON(collection, {
    style: () => ({ color: "#4b5563", weight: 1, fillColor: "#cbd5e1", fillOpacity: 0.25 }),
    onEachFeature: (feature, layer) => { tech.cells[feature.properties.code] = layer; },
    interactive: false,
  }).addTo(map);
  tech.ready = true;
});

map.on("click", (event) => {
  const { lat, lon } = fromMap(event.latlng); // WGS-84, whatever the basemap draws in
  if (tech.marker) tech.marker.remove();
  tech.marker = L.circleMarker(event.latlng, { radius: 6, color: "#111827", fillColor: "#f59e0b", fillOpacity: 1 })
    .addTo(map);
  const armed = tech.armed;
  get("/api/locate?lat=" + lat + "&lon=" + lon).then((found) => {
    const where = byId("gt-where");
    where.dataset.cell = found.cell ? found.cell.code : "";
    where.textContent = t("tech.where", { cell: cellText(found.cell), lat: lat.toFixed(6), lon: lon.toFixed(6) });
    for (const [code, layer] of Object.entries(tech.cells)) {
      layer.setStyle({ fillColor: code === where.dataset.cell ? "#60a5fa" : "#cbd5e1" });
    }
    if (armed) place(armed, lat, lon);
  }).catch((error) => { byId("gt-where").textContent = error.message; });
});

function place(deviceId, lat, lon) {
  tech.armed = null;
  byId("gt-hint").textContent = t("tech.hint");
  post(deviceUrl(deviceId, "/placement"), { lat, lon }).then((device) => {
    const placed = byId("gt-placed");
    placed.dataset.cell = device.cell ? device.cell.code : "";
    placed.dataset.device = device.id;
    placed.textContent = t(device.was_pending ? "tech.placed_pending" : "tech.placed",
                           { id: device.id, cell: cellText(device.cell) });
    refreshDevices();
    showDevice(device.id);
  }).catch((error) => { byId("gt-placed").textContent = t("tech.not_placed", { id: deviceId, error: error.message }); });
}

// -- devices ---------------------------------------------------------------------------------
async function refreshDevices() {
  const body = await get("/api/devices");
  tech.devices = {};
  deviceLayer.clearLayers();
  const pending = byId("gt-pending"), select = byId("gt-device"), chosen = select.value;
  pending.textContent = "";
  select.textContent = "";
  select.appendChild(h("option", { value: "" }, t("tech.choose")));
  for (const device of body.devices) {
    tech.devices[device.id] = device;
    select.appendChild(h("option", { value: device.id }, device.id + " (" + device.status + ")"));
    if (device.lat !== null && device.lon !== null) {
      L.circleMarker(toMap(device.lat, device.lon), { radius: 4, color: "#1d2733", fillColor: "#ffffff", fillOpacity: 1 })
        .bindTooltip(device.id).addTo(deviceLayer);
    }
    if (device.status !== "pending") continue;
    pending.appendChild(h("li", { dataset: { id: device.id } }, h("b", null, device.id),
      h("span", null, " " + [device.name, device.model].filter(Boolean).join(", ")),
      h("button", { class: "gt-place", onclick: () => {
        tech.armed = device.id;
        byId("gt-hint").textContent = t("tech.hint_place", { id: device.id });
      } }, t("tech.place"))));
  }
  if (!pending.children.length) pending.appendChild(h("li", { class: "gt-empty" }, t("tech.none")));
  select.value = tech.devices[chosen] ? chosen : "";
}

byId("gt-device").addEventListener("change", (event) => showDevice(event.target.value));

function fact(name, value) {
  return h("li", null, h("b", null, t("tech.fact." + name) + ": "),
    h("span", null, value === null || value === undefined || value === "" ? "-" : String(value)));
}

function showDevice(deviceId) {
  const box = byId("gt-health");
  byId("gt-secret").textContent = "";
  byId("gt-device").value = deviceId;
  if (!deviceId) { box.textContent = ""; byId("gt-device-actions").hidden = true; return; }
  get(deviceUrl(deviceId)).then((device) => {
    const health = device.health || {};
    const signal = health.signal ? ["rssi", "snr", "linkquality"].filter((k) => health.signal[k] !== null)
      .map((k) => k + " " + health.signal[k]).join(", ") : null;
    const dead = Object.entries(health.dead_letters || {}).map(([reason, n]) => reason + " " + n).join(", ");
    box.replaceChildren(
      h("p", { class: "gt-diagnosis gt-" + health.diagnosis, dataset: { diagnosis: health.diagnosis } }, health.message),
      h("ul", { class: "gt-facts" },
        fact("cell", device.cell ? cellText(device.cell) : null),
        fact("last_seen", health.last_seen),
        fact("battery", health.battery === null ? null : Math.round(health.battery * 100) + " %"),
        health.signal ? fact("signal", signal) : null,
        fact("messages", health.messages_last_hour),
        fact("clock_skew", health.clock_skew_s),
        fact("dead_letters", dead),
        fact("credentials", health.credentials ? health.credentials.state : t("tech.none"))));
    byId("gt-device-actions").hidden = false;
  }).catch((error) => { box.textContent = error.message; });
}

function showSecret(title, text, png) {
  byId("gt-secret").replaceChildren(h("p", { class: "gt-ok" }, title), h("pre", null, text),
    png ? h("img", { alt: t("tech.qr_alt"), src: "data:image/png;base64," + png }) : null);
}

function credentials(rotate) {
  const id = byId("gt-device").value;
  post(deviceUrl(id, "/credentials"), { rotate })
    .then((issued) => showSecret(t("tech.bundle", { id }), JSON.stringify(issued.bundle, null, 2), issued.qr_png))
    .catch((error) => showSecret(error.message, ""));
}
byId("gt-issue").addEventListener("click", () => credentials(false));
byId("gt-rotate").addEventListener("click", () => credentials(true));
byId("gt-revoke").addEventListener("click", () => {
  const id = byId("gt-device").value;
  del(deviceUrl(id, "/credentials"))
    .then((result) => { showSecret(t("tech.revoked", { names: result.revoked.join(", ") || t("tech.nothing") }), ""); showDevice(id); })
    .catch((error) => showSecret(error.message, ""));
});
byId("gt-claim").addEventListener("click", () => {
  const id = byId("gt-device").value;
  post(deviceUrl(id, "/claim-code"))
    .then((claim) => showSecret(t("tech.claim", { id, until: claim.expires_at }),
      claim.claim_code + "\n" + t("tech.claim_user", { name: claim.username }) + "\n" +
      t("tech.claim_topic", { topic: claim.claim_topic })))
    .catch((error) => showSecret(error.message, ""));
});

checkLogin().catch(() => { byId("gt-login").hidden = false; }); // 401: this server wants a login first
