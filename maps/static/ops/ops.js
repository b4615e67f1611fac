/* GridTwin operations room: what every page shares.

   window.gtops: the page's configuration (from <script id="gridtwin-ops">), t() over the
   language catalog, a small DOM builder, formatting of times, durations and rates, labels
   of statuses, actions, types and places, the JSON API with its errors, the login card,
   the language toggle, the live stream, and the grid hierarchy of cells. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("gridtwin-ops").textContent);
  const ops = (window.gtops = { config: config, missing: [] });

  // -- words ----------------------------------------------------------------------------
  function t(key, params) {
    let text = config.strings[key];
    if (text === undefined) {
      if (ops.missing.indexOf(key) < 0) ops.missing.push(key);
      text = key;
    }
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, function (m, name) {
      return params[name] === undefined || params[name] === null ? m : String(params[name]);
    });
  }
  function has(key) {
    return Object.prototype.hasOwnProperty.call(config.strings, key);
  }
  ops.t = t;
  ops.has = has;

  // -- DOM --------------------------------------------------------------------------------
  /* h("button", {class: "btn", onclick: fn, disabled: true}, "text", childNode, [more]) */
  function h(tag, attrs) {
    const el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        const value = attrs[name];
        if (value === undefined || value === null || value === false) return;
        if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
        else if (name === "class") el.className = value;
        else if (name === "text") el.textContent = value;
        else if (name === "style" && typeof value === "object") Object.assign(el.style, value);
        else if (name === "dataset") Object.assign(el.dataset, value);
        else if ((name === "href" || name === "src") && !safeUrl(value)) return;
        else if (value === true) el.setAttribute(name, "");
        else el.setAttribute(name, value);
      });
    }
    for (let i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  // Links and images only to the web (or this server): never javascript:, data: or another scheme.
  function safeUrl(value) {
    const text = String(value);
    return /^\s*https?:/i.test(text) || !/^[\s\x00-\x1f]*[a-z][a-z0-9+.\-]*:/i.test(text);
  }
  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }
  ops.h = h;
  ops.clear = clear;

  // -- formatting --------------------------------------------------------------------------
  const locale = config.lang === "zh" ? "zh-CN" : "en-GB";
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function toDate(value) {
    if (value === null || value === undefined || value === "") return null;
    const d = value instanceof Date ? value : new Date(value);
    return isNaN(d) ? null : d;
  }
  function clock(value) {
    const d = toDate(value);
    return d ? pad(d.getHours()) + ":" + pad(d.getMinutes()) : "";
  }
  function clockSeconds(value) {
    const d = toDate(value);
    return d ? clock(d) + ":" + pad(d.getSeconds()) : "";
  }
  function day(value) {
    const d = toDate(value);
    return d ? d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) : "";
  }
  /* A time as short as it can be: the clock today, else the day and the clock. */
  function when(value) {
    const d = toDate(value);
    if (!d) return t("common.none");
    if (d.toDateString() === new Date().toDateString()) return clock(d);
    return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(d);
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return t("common.none");
    const s = Math.abs(seconds);
    if (s < 60) return t("unit.seconds", { n: Math.round(s) });
    if (s < 3600) return t("unit.minutes", { n: Math.round(s / 60) });
    if (s < 86400) {
      const hours = Math.floor(s / 3600), minutes = Math.round((s % 3600) / 60);
      return minutes ? t("unit.hours_minutes", { h: hours, m: minutes }) : t("unit.hours", { n: hours });
    }
    return t("unit.days", { n: Math.round((s / 86400) * 10) / 10 });
  }
  /* "in 12 min" / "12 min ago" from now. */
  function relative(value) {
    const d = toDate(value);
    if (!d) return t("common.none");
    const seconds = (d.getTime() - Date.now()) / 1000;
    return seconds >= 0 ? t("time.in", { d: duration(seconds) }) : t("time.ago", { d: duration(seconds) });
  }
  function percent(rate) {
    if (rate === null || rate === undefined || isNaN(rate)) return t("common.none");
    const value = rate * 100;
    return (value === 100 || value === 0 ? value.toFixed(0) : value.toFixed(1)) + "%";
  }
  function number(value, digits) {
    if (value === null || value === undefined || isNaN(value)) return t("common.none");
    return Number(value).toLocaleString(locale, { maximumFractionDigits: digits === undefined ? 1 : digits });
  }
  Object.assign(ops, { clock: clock, clockSeconds: clockSeconds, day: day, when: when, duration: duration,
                       relative: relative, percent: percent, number: number, toDate: toDate });

  // -- labels ------------------------------------------------------------------------------
  function words(text) {
    const plain = String(text || "").replace(/_/g, " ");
    return plain.charAt(0).toUpperCase() + plain.slice(1);
  }
  function metricLabel(name) {
    if (has("metric." + name)) return t("metric." + name);
    const metric = config.metrics[name];
    return metric ? metric.label : words(name);
  }
  function metricUnit(name) {
    const metric = config.metrics[name];
    return metric ? metric.unit : "";
  }
  function typeLabel(type) {
    if (has("type." + type)) return t("type." + type);
    const m = /^(.+)_(high|low)$/.exec(type || "");
    if (m && config.metrics[m[1]]) return t("type.metric_" + m[2], { metric: metricLabel(m[1]) });
    if (config.metrics[type]) return metricLabel(type);
    return words(type);
  }
  function label(prefix, value) {
    return has(prefix + "." + value) ? t(prefix + "." + value) : words(value);
  }
  /* The last parts of a cell's path ("Street 01 › Grid 007"), or its name or code. */
  function place(cell, parts) {
    if (!cell) return "";
    const path = String(cell.path || "").split(" > ").filter(Boolean);
    if (path.length > 1) return path.slice(-(parts || 2)).join(" \u203a ");
    return cell.name || cell.code || "";
  }
  Object.assign(ops, {
    words: words, metricLabel: metricLabel, metricUnit: metricUnit, typeLabel: typeLabel, place: place,
    statusLabel: function (s) { return label("status", s); },
    actionLabel: function (a) { return label("action", a); },
    severityLabel: function (s) { return label("severity", s); },
    tierLabel: function (s) { return label("tier", s); },
    reasonLabel: function (s) { return label("reason", s); },
    roleLabel: function (s) { return label("role", s); },
  });

  function badge(kind, value, text) {
    return h("span", { class: "badge badge-" + kind + " " + kind + "-" + value, dataset: { value: value } }, text);
  }
  ops.statusBadge = function (status) { return badge("status", status, ops.statusLabel(status)); };
  ops.severityBadge = function (severity) { return badge("severity", severity, ops.severityLabel(severity)); };
  ops.levelColor = function (level) { return config.levels[level] || config.levels.no_data; };

  // -- the API -----------------------------------------------------------------------------
  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    this.message = (body && body.error) || "HTTP " + status;
    this.detail = body ? body.detail : null;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ops.ApiError = ApiError;

  // The session's CSRF token, sent back on every write (the server refuses a cookie write without it).
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)gridtwin_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(method, url, body) {
    const options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET" && method !== "HEAD") options.headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(
      function (response) {
        const type = response.headers.get("content-type") || "";
        const parsed = type.indexOf("json") >= 0 ? response.json() : response.text().then(function () { return null; });
        return parsed.then(function (data) {
          if (!response.ok) throw new ApiError(response.status, data);
          return data;
        });
      },
      function (error) { throw new ApiError(0, { error: String(error && error.message), detail: null }); }
    );
  }
  ops.api = api;
  ops.get = function (url) { return api("GET", url); };
  ops.post = function (url, body) { return api("POST", url, body === undefined ? {} : body); };
  ops.query = function (params) {
    const parts = [];
    Object.keys(params).forEach(function (k) {
      const v = params[k];
      if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) return;
      parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(Array.isArray(v) ? v.join(",") : v));
    });
    return parts.length ? "?" + parts.join("&") : "";
  };

  /* A message a person can act on, in their language, with the server's own words below it. */
  ops.describeError = function (error) {
    const status = error && error.status;
    let headline;
    if (status === 409 && error.detail && error.detail.allowed) {
      const allowed = error.detail.allowed.map(ops.actionLabel).join(t("common.list_sep"));
      headline = t("error.conflict", { status: ops.statusLabel(error.detail.status),
        action: ops.actionLabel(error.detail.action), allowed: allowed || t("common.none") });
    } else if (status === 409) headline = t("error.changed");
    else if (status === 422) headline = t("error.invalid");
    else if (status === 401) headline = t("error.login");
    else if (status === 403) headline = t("error.forbidden");
    else if (status === 404) headline = t("error.not_found");
    else if (status === 0) headline = t("error.network");
    else headline = t("error.server", { status: status });
    const problems = status === 422 && Array.isArray(error.detail) ? error.detail.map(function (p) {
      return (p.field ? (has("field." + p.field) ? t("field." + p.field) : p.field) + ": " : "") + p.message;
    }) : [];
    return { headline: headline, detail: error && error.message, problems: problems };
  };
  ops.errorBox = function (error) {
    const d = ops.describeError(error);
    return h("div", { class: "alert alert-error", role: "alert", dataset: { status: String(error.status) } },
      h("strong", { class: "alert-head" }, d.headline),
      d.problems.length ? h("ul", null, d.problems.map(function (p) { return h("li", null, p); })) : null,
      d.detail ? h("div", { class: "alert-detail" }, d.detail) : null);
  };

  let toastTimer = null;
  ops.toast = function (message, kind) {
    let box = document.getElementById("ops-toast");
    if (!box) {
      box = h("div", { id: "ops-toast", class: "toast", role: "status", "aria-live": "polite" });
      document.body.appendChild(box);
    }
    box.textContent = message;
    box.className = "toast show toast-" + (kind || "info");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.className = "toast"; }, 4000);
  };

  // -- who is logged in ----------------------------------------------------------------
  ops.me = function () {
    return api("GET", "/api/me").then(function (me) { ops.user = me; return me; });
  };
  ops.can = function (permission) {
    return !!(ops.user && ops.user.permissions.indexOf(permission) >= 0);
  };
  /* The actions `user` may take on `item` now: what its status allows and their role permits;
     accept and handle only on their own cases. */
  ops.actionsFor = function (item) {
    const me = ops.user;
    if (!me) return [];
    return (item.allowed_actions || []).filter(function (action) {
      if (!ops.can("case." + action)) return false;
      if (action === "accept" || action === "handle") return item.assignee === me.name;
      return true;
    });
  };
  ops.logout = function () {
    return ops.post("/api/logout").then(function () { location.reload(); }, function () { location.reload(); });
  };

  /* The login card: name, password, and the error when they are wrong. */
  ops.loginCard = function (options) {
    const error = h("div", { class: "login-error", role: "alert" });
    const name = h("input", { id: "login-name", name: "username", autocomplete: "username", required: true });
    const password = h("input", { id: "login-password", name: "password", type: "password",
                                  autocomplete: "current-password", required: true });
    const button = h("button", { class: "btn btn-primary btn-block", type: "submit", id: "login-submit" },
      t("login.submit"));
    const form = h("form", { class: "card login-card", id: "login-form", onsubmit: function (e) {
      e.preventDefault();
      button.disabled = true;
      clear(error);
      ops.post("/api/login", { name: name.value.trim(), password: password.value }).then(function (me) {
        ops.user = me;
        options.onLogin(me);
      }, function (e) {
        button.disabled = false;
        error.appendChild(document.createTextNode(e.status === 401 ? t("login.wrong") : ops.describeError(e).headline));
      });
    } },
      h("h1", null, options.title),
      options.hint ? h("p", { class: "muted" }, options.hint) : null,
      h("label", { for: "login-name" }, t("login.name")), name,
      h("label", { for: "login-password" }, t("login.password")), password,
      error, button);
    setTimeout(function () { name.focus(); }, 0);
    return h("div", { class: "login-wrap" }, form, h("div", { class: "login-lang" }, ops.langToggle()));
  };

  /* The button that switches to the other language (kept in a cookie for every page). */
  ops.langToggle = function () {
    const other = config.languages.filter(function (l) { return l !== config.lang; })[0];
    return h("button", { class: "btn btn-ghost lang-toggle", id: "lang-toggle", type: "button", lang: other,
      title: t("lang.switch"), onclick: function () {
        document.cookie = config.langCookie + "=" + other + ";path=/;max-age=31536000;samesite=lax";
        const url = new URL(location.href);
        url.searchParams.delete("lang");
        location.replace(url.toString());
      } }, t("lang.other"));
  };

  /* The header of the desk pages: brand, page links, the user and logout, the language. */
  ops.header = function (current) {
    const links = [["console", "/console"], ["worker", "/worker"], ["kpi", "/kpi"], ["wall", "/wall"]];
    const user = ops.user && ops.user.authenticated ? h("span", { class: "user-chip", id: "user-chip" },
      h("b", null, ops.user.name), h("span", { class: "user-role" }, " \u00b7 " + ops.roleLabel(ops.user.role))) : null;
    return h("header", { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "brand-mark" }), h("span", { class: "brand-title" }, config.title),
        h("span", { class: "brand-page" }, t(current + ".title"))),
      h("nav", { class: "nav" }, links.map(function (l) {
        return h("a", { href: l[1], class: l[0] === current ? "active" : null }, t("nav." + l[0]));
      })),
      h("div", { class: "topbar-right" }, user,
        ops.user && ops.user.authenticated ?
          h("button", { class: "btn btn-ghost", id: "logout", type: "button", onclick: ops.logout }, t("login.logout")) : null,
        ops.langToggle()));
  };

  // -- the live stream -------------------------------------------------------------------
  /* handlers: {cell, anomaly, case, resync, status(state)}; reconnects by itself. */
  ops.stream = function (handlers) {
    let hellos = 0;
    function status(state) { if (handlers.status) handlers.status(state); }
    function connect() {
      const source = new EventSource("/api/stream");
      ops.source = source;
      source.addEventListener("hello", function () {
        hellos += 1;
        status("live");
        if (hellos > 1 && handlers.resync) handlers.resync();
      });
      ["cell", "anomaly", "case"].forEach(function (name) {
        if (handlers[name]) source.addEventListener(name, function (e) { handlers[name](JSON.parse(e.data)); });
      });
      source.onerror = function () {
        if (source.readyState === EventSource.CLOSED) {
          status("offline");
          setTimeout(connect, 5000);
        } else status("reconnecting");
      };
    }
    status("connecting");
    connect();
  };

  // -- cases ------------------------------------------------------------------------------
  /* Every case matching `params`, page by page (the API gives at most 500 at a time). */
  ops.allCases = function (params) {
    const out = [];
    function page(offset) {
      return ops.get("/api/cases" + ops.query(Object.assign({}, params, { limit: 500, offset: offset })))
        .then(function (body) {
          Array.prototype.push.apply(out, body.cases);
          if (body.cases.length && offset + body.cases.length < body.total) return page(offset + body.cases.length);
          return out;
        });
    }
    return page(0);
  };
  ops.isOverdue = function (item, now) {
    const due = toDate(item.due_at);
    return config.openStatuses.indexOf(item.status) >= 0 && !!due && due.getTime() < (now || Date.now());
  };
  ops.severityRank = function (severity) { return severity === "critical" ? 2 : severity === "warning" ? 1 : 0; };

  // -- the grid's hierarchy -------------------------------------------------------------
  /* Districts, streets and communities from the cells' codes (6, 9, 12 digits) and paths. */
  ops.hierarchy = function (features) {
    const units = {};
    const lengths = [6, 9, 12];
    features.forEach(function (f) {
      const p = f.properties;
      const names = String(p.path || "").split(" > ");
      lengths.forEach(function (length, depth) {
        const code = p.code.slice(0, length);
        let unit = units[code];
        if (!unit) {
          unit = units[code] = { code: code, depth: depth + 1, name: names.length > depth + 1 ? names[depth] : code,
                                 children: [], cells: [] };
          if (depth > 0) units[p.code.slice(0, lengths[depth - 1])].children.push(code);
        }
        unit.cells.push(p.code);
      });
    });
    const top = Object.keys(units).filter(function (c) { return c.length === 6; }).sort();
    return { units: units, top: top };
  };

  /* Leaflet tiles when the server names a tile server (never a public one by default). */
  ops.addTiles = function (map) {
    if (config.tiles) L.tileLayer(config.tiles, { attribution: config.tilesAttribution || "" }).addTo(map);
  };
})();
