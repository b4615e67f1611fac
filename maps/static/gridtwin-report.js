/* The mobile reporter's page: log in, send a report with the phone's location, see one's reports and
   points. Everything goes through the HTTP API of the app. */
(function () {
  "use strict";
  var reporter = window.gridtwinReport = { me: null, last: null };

  function $(id) { return document.getElementById(id); }
  function el(tag, text) { var node = document.createElement(tag); node.textContent = text; return node; }

  var api = window.gridtwinField.api;

  function checkLogin() {
    return api("/api/me").then(function (me) {
      reporter.me = me;
      var allowed = me.permissions.indexOf("report.submit") >= 0;
      $("gt-login").hidden = allowed;
      $("gt-report").hidden = !allowed;
      $("gt-mine").hidden = !allowed;
      $("gt-who").textContent = me.authenticated ? me.name : "";
      if (allowed) refresh();
    });
  }

  $("gt-login").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    api("/api/login", { method: "POST", body: { name: form.name.value, password: form.password.value } })
      .then(checkLogin)
      .catch(function (error) { $("gt-login-error").textContent = error.message; });
  });

  $("gt-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { $("gt-result").textContent = "this browser cannot tell its location"; return; }
    navigator.geolocation.getCurrentPosition(function (position) {
      var form = $("gt-report");
      form.lat.value = position.coords.latitude.toFixed(6);
      form.lon.value = position.coords.longitude.toFixed(6);
    }, function (error) { $("gt-result").textContent = "no location: " + error.message; }, { enableHighAccuracy: true });
  });

  $("gt-report").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var body = { type: form.type.value, note: form.note.value, loc: { lat: Number(form.lat.value), lon: Number(form.lon.value) },
                 report_id: "web-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 8) };
    if (form.photo_url.value) body.photo_url = form.photo_url.value;
    api("/api/reports", { method: "POST", body: body }).then(function (report) {
      reporter.last = report;
      $("gt-result").textContent = "Thank you: sent as case " + report.case_id + " in cell " + report.cell_code + ".";
      form.note.value = "";
      refresh();
    }).catch(function (error) { $("gt-result").textContent = error.message; });
  });

  function refresh() {
    api("/api/reports?limit=20").then(function (body) {
      var list = $("gt-my-reports");
      list.textContent = "";
      body.reports.forEach(function (r) {
        list.appendChild(el("li", r.received_at.slice(0, 16).replace("T", " ") + "  " + r.type.replace(/_/g, " ") +
          ": " + (r.confirmed ? "confirmed, +" + r.points + " points" : (r.case_status || "sent"))));
      });
      var district = body.reports.length ? body.reports[0].cell_code.slice(0, 6) : "";
      return api("/api/reporters/leaderboard" + (district ? "?district=" + district : ""));
    }).then(function (board) {
      var list = $("gt-board");
      list.textContent = "";
      board.entries.forEach(function (entry) {
        list.appendChild(el("li", (entry.you ? "you" : entry.label) + ": " + entry.points + " points"));
      });
    }).catch(function (error) { $("gt-result").textContent = error.message; });
  }

  checkLogin();
})();
