/* The app's HTTP API: JSON in and out, the session's CSRF token on every write, and an ApiError that
   carries the status and the server's {error, detail}. */

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
    this.detail = body ? body.detail : null;
  }
}

// The session's CSRF token (the server refuses a write with the session cookie without it).
function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)gridtwin_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(method, url, body) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET" && method !== "HEAD") options.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw new ApiError(0, { error: String(error && error.message), detail: null });
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : (await response.text(), null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (url) => api("GET", url);
export const post = (url, body) => api("POST", url, body === undefined ? {} : body);
export const del = (url) => api("DELETE", url);

/* "?a=1&b=x,y" from {a: 1, b: ["x", "y"], c: null}: empty values left out. */
export function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) continue;
    parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(Array.isArray(v) ? v.join(",") : v));
  }
  return parts.length ? "?" + parts.join("&") : "";
}
