// The service graph: services as nodes, calls between them as edges with
// their counts and error rates, laid out left to right by call depth.

import { api } from './api.js';
import {
  el, errorMessage, formatPercent, loading, noTracesYet, replace, serviceColor, svg,
} from './util.js';

const WINDOWS = [['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['6h', 'Last 6 hours'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days']];
const NODE_W = 170;
const NODE_H = 44;
const COLUMN = 360;
const ROW = 90;

export async function graphPage(main) {
  document.title = 'Service graph · Dapple';
  const p = new URLSearchParams(location.search);
  const window = WINDOWS.some(([k]) => k === p.get('window')) ? p.get('window') : '1h';
  const picker = el('select', { id: 'window' }, WINDOWS.map(([k, label]) => el('option', { value: k, selected: k === window }, label)));
  picker.addEventListener('change', () => {
    history.pushState(null, '', `/graph?window=${picker.value}`);
    graphPage(main);
  });
  const body = el('div', { id: 'graph-body' }, loading('Loading the service graph'));
  replace(main, el('div', { class: 'page-head' }, el('h1', {}, 'Service graph'), el('label', {}, 'Window ', picker)), body);

  let services;
  let edges;
  try {
    const [list, deps] = await Promise.all([api.services(), api.dependencies(window)]);
    services = list.services;
    edges = deps.dependencies;
  } catch (e) {
    replace(body, errorMessage(e, 'Loading the service graph'));
    return;
  }
  if (services.length === 0) {
    replace(body, noTracesYet());
    return;
  }
  const names = [...new Set([...services, ...edges.flatMap((e) => [e.caller, e.callee])])].sort();
  replace(body,
    edges.length === 0
      ? el('div', { class: 'message empty', id: 'no-edges' },
        el('strong', {}, 'No calls between services in this window'),
        el('p', {}, 'An edge appears when a span of one service is the parent of a span of another: propagate the context ',
          '(the traceparent header) on calls between services.'))
      : null,
    el('figure', { class: 'chart graph' }, drawGraph(names, edges)),
    edgeTable(edges));
}

/** Columns by longest call depth (cycles cut), rows in name order. */
function layout(names, edges) {
  const depth = new Map(names.map((n) => [n, 0]));
  for (let round = 0; round < names.length; round++) {
    let changed = false;
    for (const e of edges) {
      if (e.caller === e.callee) continue;
      const d = depth.get(e.caller) + 1;
      if (d > depth.get(e.callee) && d < names.length) {
        depth.set(e.callee, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = new Map();
  for (const n of names) {
    const d = depth.get(n);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(n);
  }
  const tallest = Math.max(...[...columns.values()].map((c) => c.length));
  const position = new Map();
  for (const [d, column] of columns) {
    const offset = ((tallest - column.length) * ROW) / 2;
    column.forEach((n, i) => position.set(n, { x: 20 + d * COLUMN, y: 20 + offset + i * ROW }));
  }
  return { position, width: 40 + (Math.max(...columns.keys()) * COLUMN) + NODE_W, height: 40 + (tallest - 1) * ROW + NODE_H };
}

function drawGraph(names, edges) {
  const { position, width, height } = layout(names, edges);
  const maxCalls = Math.max(...edges.map((e) => e.calls), 1);
  return svg('svg', {
    viewBox: `0 0 ${width} ${height + 20}`,
    id: 'service-graph',
    role: 'img',
    'aria-label': 'Services and the calls between them',
    style: { 'max-width': `${width}px` },
  },
  svg('defs', {},
    svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerUnits: 'userSpaceOnUse', markerWidth: '12', markerHeight: '12', orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' })),
    svg('marker', { id: 'arrow-error', viewBox: '0 0 10 10', refX: '10', refY: '5', markerUnits: 'userSpaceOnUse', markerWidth: '12', markerHeight: '12', orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head error' }))),
  edges.map((e) => {
    const a = position.get(e.caller);
    const b = position.get(e.callee);
    const rate = e.calls ? e.error_count / e.calls : 0;
    let d;
    let label;
    if (e.caller === e.callee) {
      d = `M${a.x + NODE_W - 30},${a.y} C${a.x + NODE_W},${a.y - 50} ${a.x + NODE_W + 40},${a.y} ${a.x + NODE_W},${a.y + 12}`;
      label = { x: a.x + NODE_W + 20, y: a.y - 30 };
    } else if (b.x > a.x) {
      const [x1, y1, x2, y2] = [a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2];
      const mid = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
      label = { x: mid, y: (y1 + y2) / 2 - 8 };
    } else {
      // A call back to an earlier column: under the nodes.
      const [x1, y1, x2, y2] = [a.x + NODE_W / 2, a.y + NODE_H, b.x + NODE_W / 2, b.y + NODE_H];
      const low = Math.max(y1, y2) + 50;
      d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
      label = { x: (x1 + x2) / 2, y: low - 8 };
    }
    return svg('g', { class: rate > 0 ? 'edge error' : 'edge', dataset: { caller: e.caller, callee: e.callee, calls: String(e.calls), errors: String(e.error_count) } },
      svg('path', { d, 'stroke-width': 1.5 + 3 * (e.calls / maxCalls), 'marker-end': rate > 0 ? 'url(#arrow-error)' : 'url(#arrow)' }),
      svg('text', { x: label.x, y: label.y, 'text-anchor': 'middle', class: 'edge-label' },
        `${e.calls} call${e.calls === 1 ? '' : 's'}${rate > 0 ? ` · ${formatPercent(rate)} errors` : ''}`),
      svg('title', {}, `${e.caller} → ${e.callee}: ${e.calls} calls, ${e.error_count} errors`));
  }),
  names.map((n) => {
    const { x, y } = position.get(n);
    return svg('g', { class: 'node', dataset: { service: n } },
      svg('a', { href: `/search?service=${encodeURIComponent(n)}` },
        svg('rect', { x, y, width: NODE_W, height: NODE_H, rx: 8, style: { stroke: serviceColor(n) } }),
        svg('rect', { x, y, width: 8, height: NODE_H, rx: 3, style: { fill: serviceColor(n) } }),
        svg('text', { x: x + NODE_W / 2 + 4, y: y + NODE_H / 2 + 5, 'text-anchor': 'middle' }, n.length > 20 ? `${n.slice(0, 19)}…` : n),
        svg('title', {}, `${n}: search its traces`)));
  }));
}

function edgeTable(edges) {
  if (edges.length === 0) return null;
  return el('div', { class: 'table-scroll' },
    el('table', { class: 'data', id: 'edges' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Caller'), el('th', {}, 'Callee'), el('th', { class: 'num' }, 'Calls'),
        el('th', { class: 'num' }, 'Errors'), el('th', { class: 'num' }, 'Error rate'))),
      el('tbody', {}, edges.map((e) => el('tr', { dataset: { caller: e.caller, callee: e.callee } },
        el('td', {}, e.caller), el('td', {}, e.callee), el('td', { class: 'num' }, e.calls),
        el('td', { class: 'num' }, e.error_count), el('td', { class: 'num' }, formatPercent(e.calls ? e.error_count / e.calls : 0)))))));
}
