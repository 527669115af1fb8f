// Small inline-SVG charts drawn with the DOM (no chart library): horizontal bars with
// an optional reference line (the rooms norm).
const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/// bars: [{label, value, alt?}], opts: {title, max?, format?, reference?: {value, label}}
export function barChart(bars, opts) {
  const format = opts.format || ((v) => String(Math.round(v * 100) / 100));
  const rowH = 22, top = 26, left = 170, right = 60, width = 560;
  const height = top + Math.max(1, bars.length) * rowH + 12;
  const refValue = opts.reference ? opts.reference.value : 0;
  const max = Math.max(opts.max || 0, refValue, ...bars.map((b) => b.value || 0), 1e-9);
  const scale = (v) => ((width - left - right) * Math.max(0, v)) / max;
  const svg = el('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': opts.title });
  svg.appendChild(el('text', { x: 8, y: 16, 'font-weight': 600 }, opts.title));
  if (!bars.length) svg.appendChild(el('text', { x: left, y: top + 14 }, '—'));
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const label = b.label.length > 26 ? b.label.slice(0, 25) + '…' : b.label;
    svg.appendChild(el('text', { x: left - 6, y: y + 14, 'text-anchor': 'end' }, label));
    svg.appendChild(el('rect', { class: b.alt ? 'bar alt' : 'bar', x: left, y: y + 3, width: scale(b.value || 0), height: rowH - 7 }));
    svg.appendChild(el('text', { x: left + scale(b.value || 0) + 4, y: y + 14 }, b.value == null ? '—' : format(b.value)));
  });
  if (opts.reference) {
    const x = left + scale(refValue);
    svg.appendChild(el('line', { class: 'norm', x1: x, x2: x, y1: top - 4, y2: height - 6 }));
    svg.appendChild(el('text', { x: x + 3, y: top - 6 }, opts.reference.label));
  }
  return svg;
}
