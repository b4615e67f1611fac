/* A small DOM builder: elements from data, text always as text (never parsed as HTML).

   h("button", {class: "btn", onclick: fn, disabled: true}, "text", childNode, [more]) */

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if ((name === "href" || name === "src") && !safeUrl(value)) continue;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, value);
  }
  append(el, children);
  return el;
}

/* Links and images only to the web (or this server): never javascript:, data: or another scheme. */
export function safeUrl(value) {
  const text = String(value);
  return /^\s*https?:/i.test(text) || !/^[\s\x00-\x1f]*[a-z][a-z0-9+.\-]*:/i.test(text);
}

function append(el, child) {
  if (child === undefined || child === null || child === false) return;
  if (Array.isArray(child)) child.forEach((c) => append(el, c));
  else el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function byId(id) {
  return document.getElementById(id);
}
