/* Words, dates and numbers in the page's language. The catalogue of that language comes in the page's
   configuration (maps/static/i18n/<lang>.json, flat keys to text with {name} placeholders). */
import { config } from "./config.js";

const strings = config.strings || {};
export const lang = config.lang || "en";
export const locale = lang === "zh" ? "zh-CN" : "en-GB";
export const missing = []; // keys a page asked for that the catalogue lacks (the tests read it)

/* The text of `key` with its {placeholders} filled from `params`; the key itself when missing. */
export function t(key, params) {
  let text = strings[key];
  if (text === undefined) {
    if (!missing.includes(key)) missing.push(key);
    text = key;
  }
  return params ? fill(text, params) : text;
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(strings, key);
}

export function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (m, name) =>
    params[name] === undefined || params[name] === null ? m : String(params[name]));
}

// -- dates ---------------------------------------------------------------------------------
const pad = (n) => (n < 10 ? "0" + n : String(n));

export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const d = value instanceof Date ? value : new Date(value);
  return isNaN(d) ? null : d;
}

export function clock(value) {
  const d = toDate(value);
  return d ? pad(d.getHours()) + ":" + pad(d.getMinutes()) : "";
}

export function clockSeconds(value) {
  const d = toDate(value);
  return d ? clock(d) + ":" + pad(d.getSeconds()) : "";
}

export function day(value) {
  const d = toDate(value);
  return d ? d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) : "";
}

/* A time as short as it can be: the clock today, else the day and the clock. */
export function when(value) {
  const d = toDate(value);
  if (!d) return t("common.none");
  if (d.toDateString() === new Date().toDateString()) return clock(d);
  return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(d);
}

export function duration(seconds) {
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
export function relative(value) {
  const d = toDate(value);
  if (!d) return t("common.none");
  const seconds = (d.getTime() - Date.now()) / 1000;
  return seconds >= 0 ? t("time.in", { d: duration(seconds) }) : t("time.ago", { d: duration(seconds) });
}

// -- numbers -------------------------------------------------------------------------------
export function percent(rate) {
  if (rate === null || rate === undefined || isNaN(rate)) return t("common.none");
  const value = rate * 100;
  return (value === 100 || value === 0 ? value.toFixed(0) : value.toFixed(1)) + "%";
}

export function number(value, digits) {
  if (value === null || value === undefined || isNaN(value)) return t("common.none");
  return Number(value).toLocaleString(locale, { maximumFractionDigits: digits === undefined ? 1 : digits });
}
