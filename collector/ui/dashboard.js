// The dashboard: per span name over a window, calls, error rate and latency
// percentiles, of every service or of one; for the selected name, its
// latency and its calls per second over time, in the same buckets, whose
// length the collector picks for the window and the spans in it; links to
// the slowest traces of each name.

import { api } from './api.js';
import {
  el, errorMessage, formatDuration, formatPercent, loading, niceTicks, noTracesYet, replace,
  serviceBadge, svg,
} from './util.js';

const WINDOWS = [['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['6h', 'Last 6 hours'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days']];

/**
 * The dashboard in the URL: `service` narrows to one service; `name` is the
 * selected span name, and `name_service` its service when no service is
 * chosen (with one chosen, the name is that service's).
 */
function readState() {
  const p = new URLSearchParams(location.search);
  const service = p.get('service') || '';
  return {
    window: WINDOWS.some(([k]) => k === p.get('window')) ? p.get('window') : '1h',
    service,
    name: p.get('name') || '',
    nameService: service || p.get('name_service') || '',
  };
}

function writeState(state) {
  const p = new URLSearchParams({ window: state.window });
  if (state.service) p.set('service', state.service);
  if (state.name) {
    p.set('name', state.name);
    if (!state.service) p.set('name_service', state.nameService);
  }
  return `/dashboard?${p}`;
}

export async function dashboardPage(main) {
  document.title = 'Dashboard · Dapple';
  const state = readState();
  const go = (next) => {
    history.pushState(null, '', writeState(next));
    dashboardPage(main);
  };
  const picker = el('select', { id: 'window' }, WINDOWS.map(([k, label]) => el('option', { value: k, selected: k === state.window }, label)));
  picker.addEventListener('change', () => go({ ...state, window: picker.value }));
  const serviceFilter = el('select', { id: 'service-filter' }, el('option', { value: '' }, 'All services'));
  serviceFilter.addEventListener('change', () => go({
    ...state, service: serviceFilter.value, name: '', nameService: '',
  }));
  const body = el('div', { id: 'dashboard-body' }, loading('Loading aggregates'));
  replace(main, el('div', { class: 'page-head' }, el('h1', {}, 'Dashboard'),
    el('div', { class: 'dashboard-controls' },
      el('label', {}, 'Service ', serviceFilter),
      el('label', {}, 'Window ', picker))),
  body);

  let operations;
  try {
    const [{ services }, aggregates] = await Promise.all([api.services(), api.aggregates(state.window, state.service)]);
    for (const s of new Set([...services, state.service].filter(Boolean))) {
      serviceFilter.append(el('option', { value: s, selected: s === state.service }, s));
    }
    if (services.length === 0) {
      replace(body, noTracesYet());
      return;
    }
    // The collector answers for every service; the chosen one is kept here.
    operations = aggregates.operations;
  } catch (e) {
    replace(body, errorMessage(e, 'Loading the dashboard'));
    return;
  }
  if (operations.length === 0) {
    const window = WINDOWS.find(([k]) => k === state.window)[1].toLowerCase();
    replace(body, el('div', { class: 'message empty', id: 'no-operations' },
      el('strong', {}, state.service ? `No spans of ${state.service} in the ${window}` : `No spans in the ${window}`),
      el('p', {}, state.service ? 'Choose a longer window, or all services.' : 'Choose a longer window.')));
    return;
  }
  let selected = operations.find((o) => o.name === state.name && o.service === state.nameService) || operations[0];
  const latencyBox = el('section', { class: 'chart-box', id: 'latency-chart' });
  const rateBox = el('section', { class: 'chart-box', id: 'rate-chart' });
  const select = (op) => {
    selected = op;
    history.replaceState(null, '', writeState({ ...state, name: op.name, nameService: op.service }));
    for (const tr of table.querySelectorAll('tbody tr')) {
      tr.classList.toggle('selected', tr.dataset.name === op.name && tr.dataset.service === op.service);
    }
    charts(latencyBox, rateBox, op, state.window);
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
  replace(body, el('div', { class: 'table-scroll' }, table), el('div', { class: 'dashboard-charts' }, latencyBox, rateBox));
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

/** `1 s`, `30 s`, `5 min`, `2 h`, `1 day`: a bucket length, in its largest whole unit. */
function formatStep(nanos) {
  const units = [[86400e9, 'day', 'days'], [3600e9, 'h', 'h'], [60e9, 'min', 'min'], [1e9, 's', 's'], [1e6, 'ms', 'ms']];
  for (const [size, one, many] of units) {
    if (nanos >= size && nanos % size === 0) return `${nanos / size} ${nanos === size ? one : many}`;
  }
  return formatDuration(nanos);
}

/** `1.5`, `0.033`, `120`: a rate, three significant digits at most. */
function formatRate(perSecond) {
  return String(Number(perSecond.toPrecision(3)));
}

/** A time on the charts' axis: with the date past two days, with seconds under a minute's buckets. */
function axisTime(ms, rangeMs, stepMs) {
  const d = new Date(ms);
  const pad = (x) => String(x).padStart(2, '0');
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}${stepMs < 60e3 ? `:${pad(d.getSeconds())}` : ''}`;
  return rangeMs > 2 * 86400e3 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}` : clock;
}

const W = 600;
const H = 260;
const PAD = {
  left: 64, right: 14, top: 12, bottom: 28,
};

/** What both charts share: x for a bucket's centre, the time axis, the grid. */
function frame(series) {
  const points = series.points;
  const stepMs = series.bucket_nanos / 1e6;
  const startMs = points.length ? points[0].start_unix_nanos / 1e6 : Date.now();
  const slot = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  const x = (i) => PAD.left + (i + 0.5) * slot;
  const last = points.length - 1;
  const ticks = [...new Set([0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * last)))].filter((i) => i >= 0);
  // A function: each chart needs nodes of its own.
  const xAxis = () => ticks.map((i) => svg('text', {
    class: 'axis-label', x: x(i), y: H - 8, 'text-anchor': i === 0 && last > 0 ? 'start' : i === last && last > 0 ? 'end' : 'middle',
  }, axisTime(startMs + i * stepMs, points.length * stepMs, stepMs)));
  const yAxis = (ticks, y, label) => ticks.map((t) => svg('g', { class: 'grid' },
    svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t) }),
    svg('text', { x: PAD.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, label(t))));
  const when = (i) => `${axisTime(startMs + i * stepMs, points.length * stepMs, stepMs)} (${formatStep(series.bucket_nanos)})`;
  return {
    points, slot, x, xAxis, yAxis, when,
  };
}

/** Loads the selected name's series and draws its latency and rate charts. */
async function charts(latencyBox, rateBox, op, window) {
  const request = `${op.service}\u0000${op.name}\u0000${window}`;
  latencyBox.dataset.request = request;
  replace(latencyBox, el('h2', {}, 'Latency of ', op.name, ' ', serviceBadge(op.service)), loading('Loading'));
  replace(rateBox, el('h2', {}, 'Calls per second'), loading('Loading'));
  let series;
  let failure = null;
  try {
    series = await api.series({
      service: op.service, name: op.name, window, step: 'auto',
    });
  } catch (e) {
    failure = e;
  }
  // Another name was chosen meanwhile: its charts win.
  if (latencyBox.dataset.request !== request) return;
  if (failure) {
    replace(latencyBox, errorMessage(failure, 'Loading the chart'));
    replace(rateBox);
    return;
  }
  const f = frame(series);
  const step = formatStep(series.bucket_nanos);
  replace(latencyBox,
    el('h2', {}, 'Latency of ', el('span', { id: 'chart-name' }, op.name), ' ', serviceBadge(op.service)),
    latencyFigure(f, op),
    el('p', { class: 'bucket-label', id: 'latency-bucket' }, `${f.points.length} buckets of ${step}`));
  replace(rateBox,
    el('h2', {}, 'Calls per second'),
    rateFigure(f, series.bucket_nanos, op),
    el('p', { class: 'bucket-label', id: 'rate-bucket' }, `${f.points.length} buckets of ${step}`));
}

function latencyFigure(f, op) {
  const { points, x } = f;
  const max = Math.max(...points.map((p) => p.max_nanos), 1);
  const yTicks = niceTicks(max, 4);
  const yMax = yTicks[yTicks.length - 1] || max;
  const y = (ns) => H - PAD.bottom - (ns / yMax) * (H - PAD.top - PAD.bottom);
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
  const lines = [['p50_nanos', 'p50', 'line-p50'], ['p90_nanos', 'p90', 'line-p90'], ['p99_nanos', 'p99', 'line-p99']];
  return el('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Latency of ${op.name} over time` },
      f.yAxis(yTicks, y, formatDuration),
      f.xAxis(),
      lines.map(([key, , cls]) => svg('path', { class: `line ${cls}`, d: line(key) })),
      lines.map(([key, label, cls]) => points.map((p, i) => (p.count ? svg('circle', {
        class: `point ${cls}`, cx: x(i), cy: y(p[key]), r: 3,
      }, svg('title', {}, `${f.when(i)}: ${label} ${formatDuration(p[key])}`)) : null)))),
    el('figcaption', {},
      lines.map(([, label, cls]) => el('span', { class: `key ${cls}` }, el('span', { class: 'key-line' }), label))));
}

function rateFigure(f, bucketNanos, op) {
  const { points, x } = f;
  const seconds = bucketNanos / 1e9;
  const rate = (n) => n / seconds;
  const max = Math.max(...points.map((p) => rate(p.count)), 0);
  const yTicks = niceTicks(max || 1, 4);
  const yMax = yTicks[yTicks.length - 1] || 1;
  const y = (r) => H - PAD.bottom - (r / yMax) * (H - PAD.top - PAD.bottom);
  const width = Math.max(Math.min(f.slot * 0.8, 24), 1);
  const bar = (i, r, cls) => svg('rect', {
    class: cls, x: x(i) - width / 2, width, y: y(r), height: H - PAD.bottom - y(r),
  });
  return el('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Calls per second of ${op.name} over time` },
      f.yAxis(yTicks, y, (t) => `${formatRate(t)}/s`),
      f.xAxis(),
      points.map((p, i) => (p.count ? svg('g', { class: 'rate-bucket' },
        bar(i, rate(p.count), 'rate-bar'),
        p.error_count ? bar(i, rate(p.error_count), 'rate-bar error') : null,
        svg('title', {}, `${f.when(i)}: ${p.count} calls (${formatRate(rate(p.count))}/s), ${p.error_count} errors`)) : null))),
    el('figcaption', {},
      el('span', { class: 'key' }, el('span', { class: 'key-bar' }), 'calls/s'),
      el('span', { class: 'key' }, el('span', { class: 'key-bar error' }), 'errors/s')));
}
