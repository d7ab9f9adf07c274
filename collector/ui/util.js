// Small helpers every page uses: building DOM and SVG, formatting times and
// durations, colours per service, and the empty and error messages.

/**
 * An element: `el('a', {href: '/'}, 'text', child)`. `on*` attributes become
 * listeners; `style` is an object of CSS properties (`{left: '10%'}`), set
 * through the CSSOM because the page's Content-Security-Policy refuses style
 * attributes.
 */
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element, built like `el`. */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (key === 'style') {
      if (typeof value !== 'object') throw new TypeError('style takes an object of CSS properties, not a string');
      for (const [property, v] of Object.entries(value)) node.style.setProperty(property, String(v));
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** `1.23 ms`, `4.5 s`: a duration in nanoseconds, three significant digits. */
export function formatDuration(nanos) {
  const n = Number(nanos);
  if (!Number.isFinite(n)) return '–';
  const units = [
    [3600e9, 'h'],
    [60e9, 'min'],
    [1e9, 's'],
    [1e6, 'ms'],
    [1e3, 'µs'],
  ];
  for (const [size, unit] of units) {
    if (Math.abs(n) >= size) return `${trim(n / size)} ${unit}`;
  }
  return `${Math.round(n)} ns`;
}

function trim(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A local date and time, to the millisecond, from Unix nanoseconds. */
export function formatTime(unixNanos) {
  const ms = Number(BigInt(unixNanos) / 1000000n);
  const d = new Date(ms);
  const pad = (x, n = 2) => String(x).padStart(n, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `hh:mm:ss`, for axis ticks; with milliseconds when the axis spans under a minute. */
export function formatClock(ms, spanMs = Infinity) {
  const d = new Date(ms);
  const pad = (x, n = 2) => String(x).padStart(n, '0');
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return spanMs < 60e3 ? `${clock}.${pad(d.getMilliseconds(), 3)}` : clock;
}

/** `12.5%` */
export function formatPercent(ratio) {
  const p = Number(ratio) * 100;
  return `${p === 0 || p === 100 ? p.toFixed(0) : p.toFixed(1)}%`;
}

const PALETTE = [
  '#3b6ea8', '#e08a2c', '#4a9a5b', '#8e5ba8', '#c2553e', '#2f9aa0',
  '#a8894a', '#d0679d', '#5c6f86', '#7a9a2f', '#b0563b', '#4f58b0',
];

/** The colour of a service: the same name always gets the same colour. */
export function serviceColor(service) {
  // FNV-1a: short names that differ in one letter still spread.
  let hash = 2166136261;
  for (const ch of String(service)) hash = Math.imul(hash ^ ch.codePointAt(0), 16777619) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** A coloured dot and a service's name. */
export function serviceBadge(service) {
  return el('span', { class: 'service' },
    el('span', { class: 'swatch', style: { background: serviceColor(service) } }), service);
}

/** An error box; an unreachable collector and a missing thing say so. */
export function errorMessage(error, what = 'Loading') {
  const title = error && error.status === 0 ? 'Collector unreachable'
    : error && error.status === 404 ? 'Not found'
      : `${what} failed`;
  return el('div', { class: 'message error', role: 'alert' },
    el('strong', {}, title), el('p', {}, error && error.message ? error.message : String(error)));
}

/** The message shown while the collector has no trace at all. */
export function noTracesYet() {
  return el('div', { class: 'message empty', id: 'no-traces' },
    el('strong', {}, 'No traces yet'),
    el('p', {}, 'This collector has not received any span. To send some:'),
    el('ol', {},
      el('li', {}, 'Run ', el('code', {}, 'dapple-collector demo'), ' to start demo services that keep sending traces, or'),
      el('li', {}, 'instrument a program: put ', el('code', {}, '#[dapple::traced]'), ' on its functions and call ',
        el('code', {}, 'dapple::init(dapple::Config::from_env()?)'), ' in ', el('code', {}, 'main'), ';'),
      el('li', {}, 'point it here with ', el('code', {}, `DAPPLE_ENDPOINT=${location.hostname}:7701`),
        ' (the native port this collector listens on) and run it.')),
    el('p', {}, 'Spans also arrive over HTTP: ', el('code', {}, `POST ${location.origin}/api/v1/spans`), '.'));
}

/** `Loading…`, while a request is on its way. */
export function loading(what = 'Loading') {
  return el('p', { class: 'loading' }, `${what}…`);
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** Round numbers for an axis from 0 to at least `max`: about `count` steps. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; ticks.length === 0 || ticks[ticks.length - 1] < max * (1 - 1e-9); t += step) ticks.push(t);
  return ticks;
}
