/* GridTwin map page: draws the cells and devices on the folium-made Leaflet map and keeps
   them live from the server's event stream.

   The page carries its configuration in <script id="gridtwin-config">: either URLs to fetch
   (cellsUrl, devicesUrl, eventsUrl, streamUrl) or the data itself (cells, devices) for a
   standalone snapshot. window.gridtwin exposes the map and a code -> layer index. */
(function () {
  "use strict";

  var gt = (window.gridtwin = {
    map: null,
    config: null,
    cells: {}, // cell code -> Leaflet polygon layer
    counts: {}, // level -> number of cells
    status: "connecting",
    updates: 0, // cell events applied
    resyncs: 0, // snapshots taken after the stream came back
  });
  var pending = null; // events that arrived before the cells were drawn
  var renderer = null;
  var hellos = 0;

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function clock(iso) {
    if (!iso) return "never";
    var d = new Date(iso);
    if (isNaN(d)) return esc(iso);
    var time = d.toLocaleTimeString([], { hour12: false });
    if (d.toDateString() === new Date().toDateString()) return time;
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
  }

  function anomalyTitle(a) {
    var metric = a.metric && gt.config.metrics[a.metric];
    if (!metric) {
      var words = String(a.type || "anomaly").replace(/_/g, " ");
      return words.charAt(0).toUpperCase() + words.slice(1);
    }
    var tail = /_high$/.test(a.type) ? " high" : /_low$/.test(a.type) ? " low" : "";
    return metric.label + tail;
  }

  function placeName(cell) {
    if (!cell) return "";
    var parts = String(cell.path || "").split(" > ");
    return parts.length > 1 ? parts.slice(-2).join(" \u203a ") : cell.name || cell.code;
  }

  function levelStyle(level) {
    return gt.config.levels[level] || gt.config.levels.no_data;
  }

  function cellStyle(props) {
    return {
      renderer: renderer,
      fillColor: levelStyle(props.level).color,
      fillOpacity: props.level === "no_data" ? 0.45 : 0.72,
      color: "#ffffff",
      opacity: 0.9,
      weight: 1,
    };
  }

  function formatValue(name, value) {
    var metric = gt.config.metrics[name] || { label: name, unit: "", kind: "number" };
    var shown;
    if (metric.kind === "bool") shown = value ? "yes" : "no";
    else shown = (Math.round(value * 100) / 100).toString() + (metric.unit ? " " + metric.unit : "");
    return "<tr><th>" + esc(metric.label) + "</th><td>" + esc(shown) + "</td></tr>";
  }

  function cellPopup(props) {
    var rows = Object.keys(props.values || {})
      .sort()
      .map(function (name) { return formatValue(name, props.values[name]); })
      .join("");
    var style = levelStyle(props.level);
    return (
      '<div class="gt-popup">' +
      "<h3>" + esc(props.name || props.code) + "</h3>" +
      '<div class="gt-code">' + esc(props.code) + "</div>" +
      '<div class="gt-path">' + esc(props.path) + "</div>" +
      '<div class="gt-level"><span class="gt-swatch" style="background:' + style.color + '"></span>' +
      esc(style.label) +
      (props.open_anomalies ? ' &middot; <b>' + esc(props.open_anomalies) + " open anomal" +
        (props.open_anomalies === 1 ? "y" : "ies") + "</b>" : "") +
      "</div>" +
      (rows ? '<table class="gt-values">' + rows + "</table>" : '<div class="gt-muted">No readings yet</div>') +
      '<div class="gt-muted">Updated ' + clock(props.updated_at) + "</div>" +
      "</div>"
    );
  }

  function devicePopup(d) {
    var kind = gt.config.kinds[d.kind] || { label: d.kind };
    return (
      '<div class="gt-popup">' +
      "<h3>" + esc(d.name || d.id) + "</h3>" +
      '<div class="gt-code">' + esc(d.id) + " &middot; " + esc(kind.label) + (d.model ? " &middot; " + esc(d.model) : "") + "</div>" +
      '<div class="gt-path">' + esc(d.cell ? d.cell.path || d.cell.code : "no cell") + "</div>" +
      '<div class="gt-muted">Status ' + esc(d.status) + " &middot; last seen " + clock(d.last_seen) + "</div>" +
      "</div>"
    );
  }

  // -- counts and status ---------------------------------------------------------------
  function showCounts() {
    var items = document.querySelectorAll("#gt-legend li[data-level]");
    for (var i = 0; i < items.length; i++) {
      var level = items[i].getAttribute("data-level");
      items[i].querySelector(".gt-count").textContent = gt.counts[level] || 0;
    }
  }

  function setStatus(state, text) {
    gt.status = state;
    var box = document.getElementById("gt-status");
    if (!box) return;
    box.setAttribute("data-state", state);
    document.getElementById("gt-status-text").textContent = text;
  }

  // -- cells ----------------------------------------------------------------------------
  function openCellPopup(polygon, latlng) {
    // One popup for the whole map rather than one bound to each of (maybe) 10,000 cells.
    gt.popup = gt.popup || L.popup({ maxWidth: 320 });
    gt.popupCell = polygon.feature.properties.code;
    gt.popup.setLatLng(latlng || polygon.getCenter()).setContent(cellPopup(polygon.feature.properties)).openOn(gt.map);
  }

  function drawCells(collection) {
    var layer = L.geoJSON(collection, {
      style: function (feature) { return cellStyle(feature.properties); },
      onEachFeature: function (feature, polygon) {
        var props = feature.properties;
        gt.cells[props.code] = polygon;
        gt.counts[props.level] = (gt.counts[props.level] || 0) + 1;
      },
    });
    layer.on("click", function (e) { openCellPopup(e.layer, e.latlng); });
    layer.addTo(gt.map);
    gt.cellLayer = layer;
    showCounts();
  }

  function applyState(state) {
    var polygon = gt.cells[state.code];
    if (!polygon) return;
    var props = polygon.feature.properties;
    // A snapshot taken before a live event may arrive after it: never step back in time (a cell
    // that never reported is older than any report).
    if (props.updated_at && (!state.updated_at || Date.parse(state.updated_at) < Date.parse(props.updated_at))) return;
    if (props.level !== state.level) {
      gt.counts[props.level] = (gt.counts[props.level] || 1) - 1;
      gt.counts[state.level] = (gt.counts[state.level] || 0) + 1;
    }
    props.level = state.level;
    props.values = state.values || {};
    props.updated_at = state.updated_at;
    props.open_anomalies = state.open_anomalies || 0;
    polygon.setStyle(cellStyle(props));
    if (gt.popupCell === state.code && gt.popup.isOpen()) gt.popup.setContent(cellPopup(props));
    gt.updates += 1;
    showCounts();
  }

  function onCellEvent(state) {
    if (pending) pending.push(state);
    else applyState(state);
  }

  // -- devices --------------------------------------------------------------------------
  function drawDevices(devices) {
    var group = L.featureGroup();
    devices.forEach(function (d) {
      if (d.lat == null || d.lon == null) return; // mobile devices have no fixed place
      var kind = gt.config.kinds[d.kind] || gt.config.kinds.sensor;
      L.circleMarker([d.lat, d.lon], {
        renderer: renderer,
        radius: kind.radius,
        fillColor: kind.fill,
        fillOpacity: d.status === "offline" || d.status === "disabled" ? 0.45 : 1,
        color: kind.stroke,
        weight: 1.5,
        className: "gt-device gt-device-" + d.kind,
      })
        .bindPopup(devicePopup(d))
        .addTo(group);
    });
    group.addTo(gt.map);
    gt.deviceLayer = group;
    var summary = document.getElementById("gt-summary");
    if (summary) summary.textContent = Object.keys(gt.cells).length + " cells \u00b7 " + devices.length + " devices";
  }

  // -- anomalies ------------------------------------------------------------------------
  function showAnomaly(a) {
    var list = document.getElementById("gt-feed-list");
    if (!list) return;
    var empty = list.querySelector(".gt-empty");
    if (empty) list.removeChild(empty);
    var item = document.createElement("li");
    var cleared = a.status === "cleared";
    item.className = "gt-anomaly " + (cleared ? "gt-cleared" : "gt-" + a.severity);
    item.innerHTML =
      '<div class="gt-anomaly-head"><span class="gt-swatch" style="background:' +
      (cleared ? levelStyle("normal").color : levelStyle(a.severity).color) + '"></span>' +
      "<b>" + esc(anomalyTitle(a)) + "</b>" + (cleared ? " cleared" : "") +
      '<span class="gt-time">' + clock(a.ts) + "</span></div>" +
      '<div class="gt-anomaly-cell">' + esc(placeName(a.cell)) + "</div>" +
      '<div class="gt-anomaly-why">' + esc(a.explanation) + "</div>";
    item.addEventListener("click", function () {
      var polygon = a.cell && gt.cells[a.cell.code];
      if (polygon) {
        gt.map.fitBounds(polygon.getBounds(), { maxZoom: 17 });
        openCellPopup(polygon);
      }
    });
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 6) list.removeChild(list.lastChild);
  }

  // -- loading and the live stream ---------------------------------------------------------
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(url + " answered " + r.status);
      return r.json();
    });
  }

  function resync() {
    // Events sent while the stream was down are gone; the current states are not.
    return getJSON(gt.config.cellsUrl + "?geometry=false").then(function (collection) {
      collection.features.forEach(function (f) { applyState(f.properties); });
      gt.resyncs += 1;
    });
  }

  function connect() {
    var source = new EventSource(gt.config.streamUrl);
    gt.source = source;
    source.addEventListener("hello", function () {
      hellos += 1;
      setStatus("live", "Live");
      if (hellos > 1 && !pending) resync().catch(function (e) { console.warn("resync failed:", e.message); });
    });
    source.addEventListener("cell", function (e) { onCellEvent(JSON.parse(e.data)); });
    source.addEventListener("anomaly", function (e) { showAnomaly(JSON.parse(e.data)); });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gives up on a refused stream; keep trying at a gentle pace.
        setStatus("offline", "Offline \u2013 retrying");
        setTimeout(connect, 5000);
      } else {
        setStatus("reconnecting", "Reconnecting\u2026");
      }
    };
  }

  function start(config) {
    gt.config = config;
    gt.map = window[config.mapName];
    renderer = L.canvas({ padding: 0.5, tolerance: 4 });
    gt.map.attributionControl.setPrefix(false);
    L.control.scale({ position: "bottomright", imperial: false }).addTo(gt.map);

    if (config.cells) {
      drawCells(config.cells);
      drawDevices(config.devices || []);
      setStatus("snapshot", "Snapshot");
      return;
    }
    pending = [];
    if (config.streamUrl) connect();
    var started = performance.now();
    getJSON(config.cellsUrl)
      .then(function (collection) {
        gt.timings = { cellsLoaded: performance.now() - started };
        drawCells(collection);
        gt.timings.cellsDrawn = performance.now() - started;
        var queued = pending;
        pending = null;
        queued.forEach(applyState);
        return getJSON(config.devicesUrl);
      })
      .then(function (body) { drawDevices(body.devices); })
      .catch(function (e) { console.warn("loading the map failed:", e.message); setStatus("offline", "Load failed"); });
    if (config.eventsUrl) {
      getJSON(config.eventsUrl)
        .then(function (body) { body.events.slice().reverse().forEach(showAnomaly); })
        .catch(function (e) { console.warn("loading anomalies failed:", e.message); });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var block = document.getElementById("gridtwin-config");
    if (block) start(JSON.parse(block.textContent));
  });
})();
