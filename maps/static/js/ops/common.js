/* What the operations room pages (wall, console, worker, figures) share beyond the common layer of
   lib/: labels of statuses, actions, types and places, badges, errors a person can act on, who is
   logged in and what they may do, the login card, the language toggle, the page header, cases page
   by page, and the grid's hierarchy of units. */
import * as api from "../lib/api.js";
import { config } from "../lib/config.js";
import { clear, h } from "../lib/dom.js";
import { has, t } from "../lib/i18n.js";

// -- labels --------------------------------------------------------------------------------
export function words(text) {
  const plain = String(text || "").replace(/_/g, " ");
  return plain.charAt(0).toUpperCase() + plain.slice(1);
}
export function metricLabel(name) {
  if (has("metric." + name)) return t("metric." + name);
  const metric = config.metrics[name];
  return metric ? metric.label : words(name);
}
export function metricUnit(name) {
  const metric = config.metrics[name];
  return metric ? metric.unit : "";
}
export function typeLabel(type) {
  if (has("type." + type)) return t("type." + type);
  const m = /^(.+)_(high|low)$/.exec(type || "");
  if (m && config.metrics[m[1]]) return t("type.metric_" + m[2], { metric: metricLabel(m[1]) });
  if (config.metrics[type]) return metricLabel(type);
  return words(type);
}
const label = (prefix, value) => (has(prefix + "." + value) ? t(prefix + "." + value) : words(value));
export const statusLabel = (s) => label("status", s);
export const actionLabel = (a) => label("action", a);
export const severityLabel = (s) => label("severity", s);
export const tierLabel = (s) => label("tier", s);
export const reasonLabel = (s) => label("reason", s);
export const roleLabel = (s) => label("role", s);

/* The last parts of a cell's path ("Street 01 › Grid 007"), or its name or code. */
export function place(cell, parts) {
  if (!cell) return "";
  const path = String(cell.path || "").split(" > ").filter(Boolean);
  if (path.length > 1) return path.slice(-(parts || 2)).join(" \u203a ");
  return cell.name || cell.code || "";
}

const badge = (kind, value, text) =>
  h("span", { class: "badge badge-" + kind + " " + kind + "-" + value, dataset: { value } }, text);
export const statusBadge = (status) => badge("status", status, statusLabel(status));
export const severityBadge = (severity) => badge("severity", severity, severityLabel(severity));
export const levelColor = (level) => config.levels[level] || config.levels.no_data;

// -- errors --------------------------------------------------------------------------------
/* A message a person can act on, in their language, with the server's own words below it. */
export function describeError(error) {
  const status = error && error.status;
  let headline;
  if (status === 409 && error.detail && error.detail.allowed) {
    const allowed = error.detail.allowed.map(actionLabel).join(t("common.list_sep"));
    headline = t("error.conflict", { status: statusLabel(error.detail.status),
      action: actionLabel(error.detail.action), allowed: allowed || t("common.none") });
  } else if (status === 409) headline = t("error.changed");
  else if (status === 422) headline = t("error.invalid");
  else if (status === 401) headline = t("error.login");
  else if (status === 403) headline = t("error.forbidden");
  else if (status === 404) headline = t("error.not_found");
  else if (status === 0) headline = t("error.network");
  else headline = t("error.server", { status });
  const problems = status === 422 && Array.isArray(error.detail) ? error.detail.map((p) =>
    (p.field ? (has("field." + p.field) ? t("field." + p.field) : p.field) + ": " : "") + p.message) : [];
  return { headline, detail: error && error.message, problems };
}
export function errorBox(error) {
  const d = describeError(error);
  return h("div", { class: "alert alert-error", role: "alert", dataset: { status: String(error.status) } },
    h("strong", { class: "alert-head" }, d.headline),
    d.problems.length ? h("ul", null, d.problems.map((p) => h("li", null, p))) : null,
    d.detail ? h("div", { class: "alert-detail" }, d.detail) : null);
}

let toastTimer = null;
export function toast(message, kind) {
  let box = document.getElementById("ops-toast");
  if (!box) {
    box = h("div", { id: "ops-toast", class: "toast", role: "status", "aria-live": "polite" });
    document.body.appendChild(box);
  }
  box.textContent = message;
  box.className = "toast show toast-" + (kind || "info");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = "toast"; }, 4000);
}

// -- who is logged in ----------------------------------------------------------------------
export const session = { user: null }; // GET /api/me's answer once known

/* Who is asking: nobody (no role, so the page asks for a login) when /api/me answers 401, as it does
   with auth.anonymous = "none", or fails. */
export async function me() {
  try {
    session.user = await api.get("/api/me");
  } catch (e) {
    session.user = { authenticated: false, role: null, permissions: [] };
    if (e.status !== 401) console.warn("who am I failed:", e.message);
  }
  return session.user;
}
export const can = (permission) => !!(session.user && session.user.permissions.includes(permission));

/* The actions the user may take on `item` now: what its status allows and their role permits;
   accept and handle only on their own cases. */
export function actionsFor(item) {
  const user = session.user;
  if (!user) return [];
  return (item.allowed_actions || []).filter((action) => {
    if (!can("case." + action)) return false;
    if (action === "accept" || action === "handle") return item.assignee === user.name;
    return true;
  });
}
export function logout() {
  return api.post("/api/logout").finally(() => location.reload());
}

/* The login card: name, password, and the error when they are wrong. */
export function loginCard(options) {
  const error = h("div", { class: "login-error", role: "alert" });
  const name = h("input", { id: "login-name", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password",
                                autocomplete: "current-password", required: true });
  const button = h("button", { class: "btn btn-primary btn-block", type: "submit", id: "login-submit" },
    t("login.submit"));
  const form = h("form", { class: "card login-card", id: "login-form", onsubmit: (e) => {
    e.preventDefault();
    button.disabled = true;
    clear(error);
    api.post("/api/login", { name: name.value.trim(), password: password.value }).then((user) => {
      session.user = user;
      options.onLogin(user);
    }, (e) => {
      button.disabled = false;
      error.appendChild(document.createTextNode(e.status === 401 ? t("login.wrong") : describeError(e).headline));
    });
  } },
    h("h1", null, options.title),
    options.hint ? h("p", { class: "muted" }, options.hint) : null,
    h("label", { for: "login-name" }, t("login.name")), name,
    h("label", { for: "login-password" }, t("login.password")), password,
    error, button);
  setTimeout(() => name.focus(), 0);
  return h("div", { class: "login-wrap" }, form, h("div", { class: "login-lang" }, langToggle()));
}

/* The button that switches to the other language (kept in a cookie for every page). */
export function langToggle() {
  const other = config.languages.filter((l) => l !== config.lang)[0];
  return h("button", { class: "btn btn-ghost lang-toggle", id: "lang-toggle", type: "button", lang: other,
    title: t("lang.switch"), onclick: () => {
      document.cookie = config.langCookie + "=" + other + ";path=/;max-age=31536000;samesite=lax";
      const url = new URL(location.href);
      url.searchParams.delete("lang");
      location.replace(url.toString());
    } }, t("lang.other"));
}

/* The header of the desk pages: brand, page links, the user and logout, the language. */
export function header(current) {
  const links = [["console", "/console"], ["worker", "/worker"], ["kpi", "/kpi"], ["wall", "/wall"]];
  const user = session.user;
  const signedIn = user && user.authenticated;
  return h("header", { class: "topbar" },
    h("div", { class: "brand" }, h("span", { class: "brand-mark" }), h("span", { class: "brand-title" }, config.title),
      h("span", { class: "brand-page" }, t(current + ".title"))),
    h("nav", { class: "nav" }, links.map(([page, href]) =>
      h("a", { href, class: page === current ? "active" : null }, t("nav." + page)))),
    h("div", { class: "topbar-right" },
      signedIn ? h("span", { class: "user-chip", id: "user-chip" }, h("b", null, user.name),
        h("span", { class: "user-role" }, " \u00b7 " + roleLabel(user.role))) : null,
      signedIn ? h("button", { class: "btn btn-ghost", id: "logout", type: "button", onclick: logout },
        t("login.logout")) : null,
      langToggle()));
}

// -- cases ---------------------------------------------------------------------------------
/* Every case matching `params`, page by page (the API gives at most 500 at a time). */
export async function allCases(params) {
  const out = [];
  for (let offset = 0; ;) {
    const body = await api.get("/api/cases" + api.query({ ...params, limit: 500, offset }));
    out.push(...body.cases);
    offset += body.cases.length;
    if (!body.cases.length || offset >= body.total) return out;
  }
}
export function isOverdue(item, now) {
  const due = item.due_at ? new Date(item.due_at) : null;
  return config.openStatuses.includes(item.status) && !!due && due.getTime() < (now || Date.now());
}
export const severityRank = (severity) => (severity === "critical" ? 2 : severity === "warning" ? 1 : 0);

// -- the grid's hierarchy ------------------------------------------------------------------
/* Districts, streets and communities from the cells' codes (6, 9, 12 digits) and paths. */
export function hierarchy(features) {
  const units = {};
  const lengths = [6, 9, 12];
  for (const f of features) {
    const p = f.properties;
    const names = String(p.path || "").split(" > ");
    lengths.forEach((length, depth) => {
      const code = p.code.slice(0, length);
      let unit = units[code];
      if (!unit) {
        unit = units[code] = { code, depth: depth + 1, name: names.length > depth + 1 ? names[depth] : code,
                               children: [], cells: [] };
        if (depth > 0) units[p.code.slice(0, lengths[depth - 1])].children.push(code);
      }
      unit.cells.push(p.code);
    });
  }
  const top = Object.keys(units).filter((c) => c.length === 6).sort();
  return { units, top };
}
