/* The technician's page: the grid on a map, where a click falls, pending devices placed with one
   click, and a device's health and credentials. Everything goes through the HTTP API of the app. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("gt-field-config").textContent);
  var tech = window.gridtwinTech = { map: null, cells: {}, armed: null, devices: {}, me: null, marker: null };

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  var api = window.gridtwinField.api;

  function cellText(cell) {
    return cell ? cell.code + " (" + (cell.path || cell.name) + ")" : "outside the grid";
  }

  // -- login ----------------------------------------------------------------------------
  function checkLogin() {
    return api("/api/me").then(function (me) {
      tech.me = me;
      var allowed = me.permissions.indexOf("device.provision") >= 0;
      $("gt-login").hidden = allowed;
      $("gt-who").textContent = me.authenticated ? me.name + " (" + me.role + ")" : "not logged in";
      if (allowed) refreshDevices();
      return allowed;
    });
  }

  $("gt-login").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    api("/api/login", { method: "POST", body: { name: form.name.value, password: form.password.value } })
      .then(function () { $("gt-login-error").textContent = ""; return checkLogin(); })
      .catch(function (error) { $("gt-login-error").textContent = error.message; });
  });

  // -- the map ----------------------------------------------------------------------------
  var map = tech.map = L.map("gt-map", { zoomSnap: 0.25, zoomControl: true });
  if (config.tiles) L.tileLayer(config.tiles, { attribution: config.attribution || "" }).addTo(map);
  if (config.bounds) map.fitBounds(config.bounds, { padding: [12, 12] });
  else map.setView([0, 0], 2);
  var deviceLayer = L.layerGroup().addTo(map);

  api("/api/cells").then(function (collection) {
    L.geoJSON(collection, {
      style: function () { return { color: "#4b5563", weight: 1, fillColor: "#cbd5e1", fillOpacity: 0.25 }; },
      onEachFeature: function (feature, layer) { tech.cells[feature.properties.code] = layer; },
      interactive: false
    }).addTo(map);
    tech.ready = true;
  });

  map.on("click", function (event) {
    var lat = event.latlng.lat, lon = event.latlng.lng;
    if (tech.marker) tech.marker.remove();
    tech.marker = L.circleMarker(event.latlng, { radius: 6, color: "#111827", fillColor: "#f59e0b", fillOpacity: 1 })
      .addTo(map);
    var armed = tech.armed;
    api("/api/locate?lat=" + lat + "&lon=" + lon).then(function (found) {
      var where = $("gt-where");
      where.dataset.cell = found.cell ? found.cell.code : "";
      where.textContent = "Cell " + cellText(found.cell) + " at " + lat.toFixed(6) + ", " + lon.toFixed(6);
      Object.keys(tech.cells).forEach(function (code) {
        tech.cells[code].setStyle({ fillColor: code === where.dataset.cell ? "#60a5fa" : "#cbd5e1" });
      });
      if (armed) place(armed, lat, lon);
    }).catch(function (error) { $("gt-where").textContent = error.message; });
  });

  function place(deviceId, lat, lon) {
    tech.armed = null;
    $("gt-hint").textContent = "Click the map to see which cell a place falls in.";
    api("/api/devices/" + encodeURIComponent(deviceId) + "/placement", { method: "POST", body: { lat: lat, lon: lon } })
      .then(function (device) {
        var placed = $("gt-placed");
        placed.dataset.cell = device.cell ? device.cell.code : "";
        placed.dataset.device = device.id;
        placed.textContent = device.id + " placed in cell " + cellText(device.cell) +
          (device.was_pending ? "; the readings it sent while pending now count there" : "");
        refreshDevices();
        showDevice(device.id);
      })
      .catch(function (error) { $("gt-placed").textContent = deviceId + " was not placed: " + error.message; });
  }

  // -- devices ----------------------------------------------------------------------------
  function refreshDevices() {
    return api("/api/devices").then(function (body) {
      tech.devices = {};
      deviceLayer.clearLayers();
      var pending = $("gt-pending"), select = $("gt-device"), chosen = select.value;
      pending.textContent = "";
      select.textContent = "";
      select.appendChild(el("option", "choose a device...")).value = "";
      body.devices.forEach(function (device) {
        tech.devices[device.id] = device;
        var option = el("option", device.id + " (" + device.status + ")");
        option.value = device.id;
        select.appendChild(option);
        if (device.lat !== null && device.lon !== null) {
          L.circleMarker([device.lat, device.lon], { radius: 4, color: "#1d2733", fillColor: "#ffffff", fillOpacity: 1 })
            .bindTooltip(device.id).addTo(deviceLayer);
        }
        if (device.status !== "pending") return;
        var item = el("li");
        item.dataset.id = device.id;
        item.appendChild(el("b", device.id));
        item.appendChild(el("span", " " + [device.name, device.model].filter(Boolean).join(", ")));
        var button = el("button", "Place", "gt-place");
        button.addEventListener("click", function () {
          tech.armed = device.id;
          $("gt-hint").textContent = "Click the map where " + device.id + " is installed.";
        });
        item.appendChild(button);
        pending.appendChild(item);
      });
      if (!pending.children.length) pending.appendChild(el("li", "None", "gt-empty"));
      select.value = tech.devices[chosen] ? chosen : "";
    });
  }

  $("gt-device").addEventListener("change", function (event) { showDevice(event.target.value); });

  function row(list, label, value) {
    var item = el("li");
    item.appendChild(el("b", label + ": "));
    item.appendChild(el("span", value === null || value === undefined || value === "" ? "-" : String(value)));
    list.appendChild(item);
  }

  function showDevice(deviceId) {
    var box = $("gt-health");
    $("gt-secret").textContent = "";
    $("gt-device").value = deviceId;
    if (!deviceId) { box.textContent = ""; $("gt-device-actions").hidden = true; return; }
    api("/api/devices/" + encodeURIComponent(deviceId)).then(function (device) {
      var health = device.health || {};
      box.textContent = "";
      var head = el("p", health.message, "gt-diagnosis gt-" + health.diagnosis);
      head.dataset.diagnosis = health.diagnosis;
      box.appendChild(head);
      var list = el("ul", null, "gt-facts");
      row(list, "Cell", device.cell ? cellText(device.cell) : null);
      row(list, "Last seen", health.last_seen);
      row(list, "Battery", health.battery === null ? null : Math.round(health.battery * 100) + " %");
      if (health.signal) {
        row(list, "Signal", ["rssi", "snr", "linkquality"].filter(function (k) { return health.signal[k] !== null; })
          .map(function (k) { return k + " " + health.signal[k]; }).join(", "));
      }
      row(list, "Messages, last hour", health.messages_last_hour);
      row(list, "Clock skew (s)", health.clock_skew_s);
      row(list, "Dead letters", Object.keys(health.dead_letters || {}).map(function (r) {
        return r + " " + health.dead_letters[r];
      }).join(", "));
      row(list, "Credentials", health.credentials ? health.credentials.state : "none");
      box.appendChild(list);
      $("gt-device-actions").hidden = false;
    }).catch(function (error) { box.textContent = error.message; });
  }

  function showSecret(title, text, png) {
    var box = $("gt-secret");
    box.textContent = "";
    box.appendChild(el("p", title, "gt-ok"));
    box.appendChild(el("pre", text));
    if (png) {
      var image = el("img");
      image.alt = "QR code of the configuration bundle";
      image.src = "data:image/png;base64," + png;
      box.appendChild(image);
    }
  }

  function credentials(rotate) {
    var id = $("gt-device").value;
    api("/api/devices/" + encodeURIComponent(id) + "/credentials", { method: "POST", body: { rotate: rotate } })
      .then(function (issued) {
        showSecret("Configuration bundle of " + id + " (the password is shown this once):",
          JSON.stringify(issued.bundle, null, 2), issued.qr_png);
      })
      .catch(function (error) { showSecret(error.message, ""); });
  }
  $("gt-issue").addEventListener("click", function () { credentials(false); });
  $("gt-rotate").addEventListener("click", function () { credentials(true); });
  $("gt-revoke").addEventListener("click", function () {
    var id = $("gt-device").value;
    api("/api/devices/" + encodeURIComponent(id) + "/credentials", { method: "DELETE" })
      .then(function (result) { showSecret("Revoked: " + (result.revoked.join(", ") || "nothing was active"), ""); showDevice(id); })
      .catch(function (error) { showSecret(error.message, ""); });
  });
  $("gt-claim").addEventListener("click", function () {
    var id = $("gt-device").value;
    api("/api/devices/" + encodeURIComponent(id) + "/claim-code", { method: "POST", body: {} })
      .then(function (claim) {
        showSecret("Claim code of " + id + " (shown this once, valid until " + claim.expires_at + "):",
          claim.claim_code + "\nuser name " + claim.username + "\npublish on " + claim.claim_topic);
      })
      .catch(function (error) { showSecret(error.message, ""); });
  });

  checkLogin();
})();
