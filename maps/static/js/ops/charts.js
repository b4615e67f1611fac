/* GridTwin charts: small SVG charts drawn by hand, so the pages need no chart library.

   histogram(el, [[a, b], ...], [colorA, colorB])   stacked columns, no axes (the wall's slider)
   bars(el, {labels, series: [{name, color, values}], max, format})   grouped horizontal bars
   trend(el, {labels, bars: {name, color, values}, line: {name, color, values, format}})
                                                            daily columns with a rate line (0..1) */
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
  if (text !== undefined) el.textContent = text;
  return el;
}
function reset(container, width, height, label) {
  while (container.firstChild) container.removeChild(container.firstChild);
  const root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", height: "100%",
                            preserveAspectRatio: "none", role: "img" });
  if (label) root.appendChild(svg("title", {}, label));
  container.appendChild(root);
  return root;
}
/* The drawn width of a text already in the document; a guess when it is not laid out. */
function textWidth(node, text) {
  const width = node.getComputedTextLength ? node.getComputedTextLength() : 0;
  return width > 0 ? width : text.length * 8;
}
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  const steps = [1, 2, 2.5, 5, 10];
  for (let i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
  return 10 * power;
}

export function histogram(container, data, colors, label) {
  const width = Math.max(100, data.length), height = 100;
  const root = reset(container, width, height, label);
  const max = Math.max(1, Math.max.apply(null, data.map(function (d) { return d[0] + d[1]; })));
  const w = width / Math.max(1, data.length);
  data.forEach(function (d, i) {
    let y = height;
    d.forEach(function (value, k) {
      if (!value) return;
      const bar = (value / max) * (height - 4);
      y -= bar;
      root.appendChild(svg("rect", { x: (i * w).toFixed(2), y: y.toFixed(2), width: Math.max(0.6, w - 0.4).toFixed(2),
                                     height: bar.toFixed(2), fill: colors[k] }));
    });
  });
  return root;
}

/* Horizontal grouped bars with the unit names on the left and the values at the bar ends. */
export function bars(container, spec) {
  const labels = spec.labels, series = spec.series, format = spec.format || String;
  const row = 16 * series.length + 10, left = spec.left || 230, right = 70, top = 26;
  const width = spec.width || Math.max(420, container.clientWidth || 600);
  const height = top + Math.max(1, labels.length) * row + 6;
  const root = reset(container, width, height, spec.title);
  root.setAttribute("preserveAspectRatio", "xMinYMin meet");
  root.setAttribute("height", height);
  const max = spec.max || niceMax(Math.max.apply(null, series.map(function (s) {
    return Math.max.apply(null, s.values.map(function (v) { return v || 0; }).concat([0]));
  })));
  const span = width - left - right;
  // legend
  let lx = left;
  series.forEach(function (s) {
    root.appendChild(svg("rect", { x: lx, y: 6, width: 12, height: 12, rx: 2, fill: s.color }));
    const text = svg("text", { x: lx + 17, y: 16, class: "chart-legend" }, s.name);
    root.appendChild(text);
    lx += 34 + textWidth(text, s.name);
  });
  [0, 0.5, 1].forEach(function (f) {
    const x = left + span * f;
    root.appendChild(svg("line", { x1: x, x2: x, y1: top - 4, y2: height - 4, class: "chart-grid" }));
  });
  labels.forEach(function (name, i) {
    const y = top + i * row;
    root.appendChild(svg("text", { x: left - 8, y: y + row / 2 + 2, "text-anchor": "end", class: "chart-label" },
      name.length > 30 ? "\u2026" + name.slice(-29) : name)); // the end names the unit itself
    series.forEach(function (s, k) {
      const value = s.values[i];
      const by = y + 4 + k * 16;
      if (value === null || value === undefined) {
        root.appendChild(svg("text", { x: left + 4, y: by + 11, class: "chart-value muted" }, format(null)));
        return;
      }
      const w = Math.max(1, (value / max) * span);
      const bar = svg("rect", { x: left, y: by, width: w.toFixed(1), height: 13, rx: 2, fill: s.color,
                                class: "chart-bar" });
      bar.appendChild(svg("title", {}, name + " \u00b7 " + s.name + ": " + format(value)));
      root.appendChild(bar);
      root.appendChild(svg("text", { x: left + w + 5, y: by + 11, class: "chart-value" }, format(value)));
    });
  });
  return root;
}

/* Columns (counts per day) on the left axis and a line (a rate from 0 to 1) on the right axis. */
export function trend(container, spec) {
  const labels = spec.labels;
  const width = Math.max(420, container.clientWidth || 600), height = spec.height || 240;
  const left = 44, right = 52, top = 30, bottom = 34;
  const root = reset(container, width, height, spec.title);
  root.setAttribute("preserveAspectRatio", "xMinYMin meet");
  const plotW = width - left - right, plotH = height - top - bottom;
  // Four grid steps of whole numbers: the top of the axis is the next multiple of 4.
  const max = Math.max(4, Math.ceil(Math.max.apply(null, spec.bars.values.concat([0])) / 4) * 4);
  const step = plotW / Math.max(1, labels.length);
  [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
    const y = top + plotH * (1 - f);
    root.appendChild(svg("line", { x1: left, x2: left + plotW, y1: y, y2: y, class: "chart-grid" }));
    root.appendChild(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "chart-axis" },
      String(max * f)));
    root.appendChild(svg("text", { x: left + plotW + 6, y: y + 4, class: "chart-axis" }, Math.round(f * 100) + "%"));
  });
  labels.forEach(function (name, i) {
    const value = spec.bars.values[i] || 0;
    const bh = (value / max) * plotH;
    const bar = svg("rect", { x: left + i * step + step * 0.18, y: top + plotH - bh, width: step * 0.64,
                              height: bh, fill: spec.bars.color, rx: 2, class: "chart-bar" });
    bar.appendChild(svg("title", {}, name + " \u00b7 " + spec.bars.name + ": " + value));
    root.appendChild(bar);
    if (labels.length <= 16 || i % Math.ceil(labels.length / 16) === 0) {
      root.appendChild(svg("text", { x: left + i * step + step / 2, y: height - bottom + 16, "text-anchor": "middle",
                                     class: "chart-axis" }, name));
    }
  });
  const points = [];
  spec.line.values.forEach(function (v, i) {
    if (v === null || v === undefined) return;
    points.push([left + i * step + step / 2, top + plotH * (1 - v)]);
  });
  if (points.length) {
    root.appendChild(svg("polyline", { points: points.map(function (p) { return p.join(","); }).join(" "),
                                       fill: "none", stroke: spec.line.color, "stroke-width": 2.5, class: "chart-line" }));
    points.forEach(function (p) {
      root.appendChild(svg("circle", { cx: p[0], cy: p[1], r: 3.5, fill: spec.line.color }));
    });
  }
  let lx = left;
  [[spec.bars.color, spec.bars.name], [spec.line.color, spec.line.name]].forEach(function (item) {
    root.appendChild(svg("rect", { x: lx, y: 8, width: 12, height: 12, rx: 2, fill: item[0] }));
    const text = svg("text", { x: lx + 17, y: 18, class: "chart-legend" }, item[1]);
    root.appendChild(text);
    lx += 40 + textWidth(text, item[1]);
  });
  return root;
}

