/* What the field pages (technician, reporter) share: JSON calls to the app's HTTP API with the
   session's CSRF token on every write. Loaded before the page's own script. */
(function () {
  "use strict";

  // The session's CSRF token, sent back on every write (the server refuses a cookie write without it).
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)gridtwin_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // api(path, {method, body}) -> a promise of the parsed JSON; an error carries the API's message.
  function api(path, options) {
    options = options || {};
    var init = { method: options.method || "GET", credentials: "same-origin", headers: {} };
    if (init.method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    return fetch(path, init).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body && body.error ? body.error : response.status + " " + response.statusText);
        return body;
      });
    });
  }

  window.gridtwinField = { api: api };
})();
