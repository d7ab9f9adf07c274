// The dashboard: per span name over a window, calls, error rate and latency
// percentiles; a latency-over-time chart for the selected name; links to the
// slowest traces of each.

import { api } from './api.js';
import {
  el, errorMessage, formatClock, formatDuration, formatPercent, loading, niceTicks, noTracesYet, replace,
  serviceBadge, svg,
} from './util.js';

const WINDOWS = [['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['6h', 'Last 6 hours'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days']];

function readState() {
  const p = new URLSearchParams(location.search);
  return {
    window: WINDOWS.some(([k]) => k === p.get('window')) ? p.get('window') : '1h',
    service: p.get('service') || '',
    name: p.get('name') || '',
  };
}

function writeState(state) {
  const p = new URLSearchParams({ window: state.window });
  if (state.name) {
    p.set('service', state.service);
    p.set('name', state.name);
  }
  return `/dashboard?${p}`;
}

export async function dashboardPage(main) {
  document.title = 'Dashboard · Dapple';
  const state = readState();
  const picker = el('select', { id: 'window' }, WINDOWS.map(([k, label]) => el('option', { value: k, selected: k === state.window }, label)));
  picker.addEventListener('change', () => {
    history.pushState(null, '', writeState({ ...state, window: picker.value }));
    dashboardPage(main);
  });
  const body = el('div', { id: 'dashboard-body' }, loading('Loading aggregates'));
  replace(main, el('div', { class: 'page-head' }, el('h1', {}, 'Dashboard'), el('label', {}, 'Window ', picker)), body);

  let operations;
  try {
    const [{ services }, aggregates] = await Promise.all([api.services(), api.aggregates(state.window)]);
    if (services.length === 0) {
      replace(body, noTracesYet());
      return;
    }
    operations = aggregates.operations;
  } catch (e) {
    replace(body, errorMessage(e, 'Loading the dashboard'));
    return;
  }
  if (operations.length === 0) {
    replace(body, el('div', { class: 'message empty', id: 'no-operations' },
      el('strong', {}, `No spans in the ${WINDOWS.find(([k]) => k === state.window)[1].toLowerCase()}`),
      el('p', {}, 'Choose a longer window.')));
    return;
  }
  let selected = operations.find((o) => o.service === state.service && o.name === state.name) || operations[0];
  const chart = el('section', { class: 'chart-box', id: 'latency-chart' });
  const select = (op) => {
    selected = op;
    history.replaceState(null, '', writeState({ window: state.window, service: op.service, name: op.name }));
    for (const tr of table.querySelectorAll('tbody tr')) {
      tr.classList.toggle('selected', tr.dataset.name === op.name && tr.dataset.service === op.service);
    }
    latencyChart(chart, op, state.window);
  };
  const table = el('table', { class: 'data', id: 'operations' },
    el('thead', {}, el('tr', {},
      el('th', {}, 'Span name'), el('th', {}, 'Service'), el('th', { class: 'num' }, 'Calls'),
      el('th', { class: 'num' }, 'Error rate'), el('th', { class: 'num' }, 'p50'), el('th', { class: 'num' }, 'p90'),
      el('th', { class: 'num' }, 'p99'), el('th', { class: 'num' }, 'Max'), el('th', {}, ''))),
    el('tbody', {}, operations.map((op) => el('tr', {
      dataset: { name: op.name, service: op.service },
      class: op.error_count ? 'has-errors' : '',
      onclick: (e) => {
        if (!e.target.closest('a')) select(op);
      },
    },
    el('td', { class: 'op-name' }, el('button', { type: 'button', class: 'link' }, op.name)),
    el('td', {}, serviceBadge(op.service)),
    el('td', { class: 'num calls' }, op.count),
    el('td', { class: `num error-rate${op.error_count ? ' status-error' : ''}` }, formatPercent(op.error_rate)),
    el('td', { class: 'num' }, formatDuration(op.p50_nanos)),
    el('td', { class: 'num' }, formatDuration(op.p90_nanos)),
    el('td', { class: 'num' }, formatDuration(op.p99_nanos)),
    el('td', { class: 'num' }, formatDuration(op.max_nanos)),
    el('td', {}, el('a', { class: 'slowest', href: slowestLink(op, state.window) }, 'Slowest traces'))))));
  replace(body, el('div', { class: 'table-scroll' }, table), chart);
  select(selected);
}

/** A search for the traces where this name took at least its p90, longest first. */
function slowestLink(op, window) {
  const p = new URLSearchParams({
    service: op.service,
    name: op.name,
    min_duration: `${op.p90_nanos}ns`,
    lookback: ['15m', '1h', '6h', '24h'].includes(window) ? window : '24h',
    sort: 'longest',
  });
  return `/search?${p}`;
}

async function latencyChart(box, op, window) {
  const request = `${op.service}\u0000${op.name}\u0000${window}`;
  box.dataset.request = request;
  replace(box, el('h2', {}, 'Latency of ', op.name, ' ', serviceBadge(op.service)), loading('Loading'));
  let series;
  let failure = null;
  try {
    series = await api.series({ service: op.service, name: op.name, window, buckets: 60 });
  } catch (e) {
    failure = e;
  }
  // Another name was chosen meanwhile: its chart wins.
  if (box.dataset.request !== request) return;
  if (failure) {
    replace(box, errorMessage(failure, 'Loading the chart'));
    return;
  }
  const W = 1000;
  const H = 240;
  const pad = { left: 70, right: 20, top: 12, bottom: 28 };
  const points = series.points;
  const bucketMs = series.bucket_nanos / 1e6;
  const max = Math.max(...points.map((p) => p.max_nanos), 1);
  const yTicks = niceTicks(max, 4);
  const yMax = yTicks[yTicks.length - 1] || max;
  const x = (i) => pad.left + ((i + 0.5) / points.length) * (W - pad.left - pad.right);
  const y = (ns) => H - pad.bottom - (ns / yMax) * (H - pad.top - pad.bottom);
  const maxCount = Math.max(...points.map((p) => p.count), 1);
  const line = (key) => {
    // Buckets without calls break the line rather than drop it to zero.
    let d = '';
    let pen = false;
    points.forEach((p, i) => {
      if (p.count === 0) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  const startMs = points.length ? points[0].start_unix_nanos / 1e6 : Date.now();
  const series3 = [['p50_nanos', 'p50', 'line-p50'], ['p90_nanos', 'p90', 'line-p90'], ['p99_nanos', 'p99', 'line-p99']];
  replace(box,
    el('h2', {}, 'Latency of ', el('span', { id: 'chart-name' }, op.name), ' ', serviceBadge(op.service)),
    el('figure', { class: 'chart' },
      svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Latency of ${op.name} over time` },
        points.map((p, i) => (p.count ? svg('rect', {
          class: 'count-bar',
          x: x(i) - 4,
          width: 8,
          y: H - pad.bottom - (p.count / maxCount) * 40,
          height: (p.count / maxCount) * 40,
        }, svg('title', {}, `${p.count} calls, ${p.error_count} errors`)) : null)),
        yTicks.map((t) => svg('g', { class: 'grid' },
          svg('line', { x1: pad.left, x2: W - pad.right, y1: y(t), y2: y(t) }),
          svg('text', { x: pad.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, formatDuration(t)))),
        [0, 15, 30, 45, 59].filter((i) => i < points.length).map((i) => svg('text', {
          class: 'axis-label', x: x(i), y: H - 8, 'text-anchor': i === 59 ? 'end' : 'middle',
        }, formatClock(startMs + i * bucketMs, points.length * bucketMs))),
        series3.map(([key, , cls]) => svg('path', { class: `line ${cls}`, d: line(key) })),
        series3.map(([key, , cls]) => points.map((p, i) => (p.count ? svg('circle', { class: `point ${cls}`, cx: x(i), cy: y(p[key]), r: 3 },
          svg('title', {}, `${formatClock(startMs + i * bucketMs)}: ${formatDuration(p[key])}`)) : null)))),
      el('figcaption', {},
        series3.map(([, label, cls]) => el('span', { class: `key ${cls}` }, el('span', { class: 'key-line' }), label)),
        el('span', { class: 'key' }, el('span', { class: 'key-bar' }), 'calls'),
        ` · ${points.length} buckets of ${formatDuration(series.bucket_nanos)}`)));
}
