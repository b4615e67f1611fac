/* The basemap every map page draws under its cells, as the server describes it in the page's
   configuration (config.basemap, maps/basemap.py): tile layers from the city's own servers (XYZ or
   WMTS templates with their subdomains, zoom range and attribution) and vector layers (roads, water,
   parks, landmarks) labelled in the page's language, in panes under the cells.

   Over a GCJ-02 basemap everything the page draws is shifted: cells, devices and vector layers by the
   server (withCrs adds ?crs=gcj02 to their URLs), points the page places itself by toMap, and a point
   picked on the map goes back to WGS-84 by fromMap. With a WGS-84 (or CGCS2000) basemap both are the
   identity.

     const basemap = addBasemap(map, { scheme: "dark" });   // tiles now, vector layers as they load
     L.circleMarker(toMap(lat, lon)).addTo(map);
     map.on("click", (e) => locate(fromMap(e.latlng)));      // {lat, lon} in WGS-84 */
import { get } from "./api.js";
import { config } from "./config.js";
import { lang } from "./i18n.js";
import { L } from "./leaflet.js";
import gcoord from "../vendor/gcoord/gcoord.esm-browser.prod.js";

const settings = config.basemap || { crs: "wgs84", tiles: [], vectors: [] };
export const crs = settings.crs || "wgs84";
const gcj = crs === "gcj02";

/* `url` asking the server for geometry in the basemap's coordinate system. */
export function withCrs(url) {
  return gcj ? url + (url.includes("?") ? "&" : "?") + "crs=gcj02" : url;
}

/* A WGS-84 point as Leaflet places it on this basemap: [lat, lon]. */
export function toMap(lat, lon) {
  if (!gcj) return [lat, lon];
  const [x, y] = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
  return [y, x];
}

/* A point picked on this basemap (a Leaflet LatLng) as WGS-84 {lat, lon}. */
export function fromMap(latlng) {
  if (!gcj) return { lat: latlng.lat, lon: latlng.lng };
  const [x, y] = gcoord.transform([latlng.lng, latlng.lat], gcoord.GCJ02, gcoord.WGS84);
  return { lat: y, lon: x };
}

/* Leaflet bounds [[south, west], [north, east]] in WGS-84 (the grid's, from the page's configuration) as
   the basemap draws them. */
export function mapBounds(bounds) {
  return bounds ? [toMap(bounds[0][0], bounds[0][1]), toMap(bounds[1][0], bounds[1][1])] : bounds;
}

/* Whether anything the basemap draws names its source (the map then shows its attribution). */
export const hasAttribution = (settings.tiles || []).some((t) => t.attribution) ||
  (settings.vectors || []).some((v) => v.attribution);

// Colours of the vector layers on a light page and on the dark wall.
const SCHEMES = {
  light: { water: "#a9d3ee", park: "#cfe6c3", building: "#dad5cc", area: "#e3e6e8", wall: "#8c6a3f",
           road: "#ffffff", casing: "#b9c1c9", minor: "#f4f6f8", point: "#5a4632", district: "#7a4a8c" },
  dark: { water: "#123a57", park: "#16331f", building: "#262d36", area: "#18222d", wall: "#8a6d45",
          road: "#3b4a5a", casing: "#0a131d", minor: "#2a3643", point: "#c9b48f", district: "#b79bd0" },
};
const BASE_PANE = "gt-basemap"; // under the cells (Leaflet's overlay pane is 400), over the tiles (200)
const LABEL_PANE = "gt-basemap-labels"; // over the cells, under markers (600)
const LABELS_FROM_ZOOM = { district: 0, landmark: 14, gate: 14, water: 14, park: 14, road: 15, wall: 15 };
const AREAS = new Set(["water", "park", "building", "area"]);

/* The label of a feature in the page's language (the other one when it has none). */
export function label(props) {
  return lang === "zh" ? props.name_zh || props.name_en || "" : props.name_en || props.name_zh || "";
}

function panes(map) {
  if (!map.getPane(BASE_PANE)) map.createPane(BASE_PANE).style.zIndex = "250";
  if (!map.getPane(LABEL_PANE)) {
    const pane = map.createPane(LABEL_PANE);
    pane.style.zIndex = "450";
    pane.style.pointerEvents = "none";
  }
}

function style(colors, props, renderer) {
  const kind = props.kind;
  if (AREAS.has(kind)) {
    return { renderer, interactive: false, fillColor: colors[kind], fillOpacity: 1, color: colors[kind], weight: 1 };
  }
  if (kind === "wall") return { renderer, interactive: false, color: colors.wall, weight: 4, opacity: 0.9 };
  const minor = props.road_class === "minor" || props.road_class === "pedestrian";
  return { renderer, interactive: false, color: minor ? colors.minor : colors.road, weight: minor ? 2 : 3.5 };
}

/* Where a feature's label goes: the point itself, halfway along a line (its longest part), the middle
   of an area's box. [lon, lat] in the coordinates of the GeoJSON. */
function anchor(geometry) {
  if (geometry.type === "Point") return geometry.coordinates;
  if (geometry.type === "LineString" || geometry.type === "MultiLineString") {
    const parts = geometry.type === "LineString" ? [geometry.coordinates] : geometry.coordinates;
    const lengths = parts.map((p) => p.slice(1).map((q, i) => Math.hypot(q[0] - p[i][0], q[1] - p[i][1])));
    const totals = lengths.map((l) => l.reduce((a, b) => a + b, 0));
    const k = totals.indexOf(Math.max(...totals));
    let left = totals[k] / 2;
    for (let i = 0; i < lengths[k].length; i++) {
      if (left <= lengths[k][i]) {
        const [a, b] = [parts[k][i], parts[k][i + 1]], f = lengths[k][i] ? left / lengths[k][i] : 0;
        return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
      }
      left -= lengths[k][i];
    }
    return parts[k][0];
  }
  const box = L.geoJSON(geometry).getBounds().getCenter();
  return [box.lng, box.lat];
}

function drawVectors(collection, colors, renderer, labels) {
  return L.geoJSON(collection, {
    style: (f) => style(colors, f.properties, renderer),
    pointToLayer: (f, latlng) => f.properties.kind === "district" ? L.layerGroup() :
      L.circleMarker(latlng, { renderer, interactive: false, radius: f.properties.kind === "gate" ? 4 : 3,
                               color: colors.point, fillColor: colors.point, fillOpacity: 1, weight: 1 }),
    onEachFeature: (f) => {
      const text = label(f.properties);
      if (!text) return;
      const [lon, lat] = anchor(f.geometry);
      const icon = L.divIcon({ className: "gt-basemap-label gt-basemap-label-" + f.properties.kind, html: "",
                               iconSize: null });
      labels.push({ kind: f.properties.kind, text,
                    marker: L.marker([lat, lon], { pane: LABEL_PANE, interactive: false, keyboard: false, icon }) });
    },
  });
}

/* Draws the basemap on `map`; `scheme` "light" or "dark" colours the vector layers. Returns
   { tiles: the tile layers, vectors: a promise of the vector layers' group, labels: their labels' group }. */
export function addBasemap(map, options = {}) {
  const colors = SCHEMES[options.scheme || "light"] || SCHEMES.light;
  panes(map);
  if (settings.minZoom !== null && settings.minZoom !== undefined) map.setMinZoom(settings.minZoom);
  if (settings.maxZoom !== null && settings.maxZoom !== undefined) map.setMaxZoom(settings.maxZoom);
  const tiles = (settings.tiles || []).map((t) => {
    const o = { attribution: t.attribution || "", tms: !!t.tms, opacity: t.opacity === undefined ? 1 : t.opacity };
    if (t.subdomains && t.subdomains.length) o.subdomains = t.subdomains;
    if (t.minZoom !== null && t.minZoom !== undefined) o.minZoom = t.minZoom;
    if (t.maxZoom !== null && t.maxZoom !== undefined) o.maxNativeZoom = t.maxZoom; // past it, the last tiles scaled
    return L.tileLayer(t.url, o).addTo(map);
  });
  const renderer = L.canvas({ padding: 0.3, pane: BASE_PANE });
  const group = L.layerGroup().addTo(map);
  const labelGroup = L.layerGroup().addTo(map);
  const labels = [];
  const showLabels = () => {
    const zoom = map.getZoom();
    for (const item of labels) {
      const from = LABELS_FROM_ZOOM[item.kind] === undefined ? 15 : LABELS_FROM_ZOOM[item.kind];
      if (zoom >= from && !labelGroup.hasLayer(item.marker)) {
        labelGroup.addLayer(item.marker);
        const text = document.createElement("span");
        text.textContent = item.text; // city data: text, never markup
        item.marker.getElement().replaceChildren(text);
      } else if (zoom < from && labelGroup.hasLayer(item.marker)) labelGroup.removeLayer(item.marker);
    }
  };
  const loads = (settings.vectors || []).map((v) =>
    (v.data ? Promise.resolve(v.data) : get(v.url)).then((collection) => {
      drawVectors(collection, colors, renderer, labels).addTo(group);
      if (v.attribution && map.attributionControl) map.attributionControl.addAttribution(v.attribution);
    }));
  const vectors = Promise.all(loads).then(() => {
    showLabels();
    map.on("zoomend", showLabels);
    return group;
  }).catch((e) => {
    console.warn("loading the basemap's vector layers failed:", e.message);
    return group;
  });
  return { tiles, vectors, labels: labelGroup };
}
