// The search page: a form whose every field lives in the URL, a
// duration-over-time scatter plot of the results and a sortable, paged list
// whose rows can be ticked, two at a time, to compare their traces.

import { api } from './api.js';
import {
  el, errorMessage, formatClock, formatDuration, formatTime, loading, niceTicks, noTracesYet, replace,
  serviceBadge, serviceColor, svg,
} from './util.js';

const LOOKBACKS = [['15m', 'Last 15 minutes', 15 * 60e3], ['1h', 'Last hour', 3600e3], ['6h', 'Last 6 hours', 6 * 3600e3],
  ['24h', 'Last 24 hours', 24 * 3600e3], ['custom', 'Custom range', null]];
const SORTS = [['newest', 'Newest first'], ['longest', 'Longest first'], ['shortest', 'Shortest first']];

/** The search in the URL, with defaults filled in. */
export function readSearch() {
  const p = new URLSearchParams(location.search);
  const lookback = LOOKBACKS.some(([k]) => k === p.get('lookback')) ? p.get('lookback') : '1h';
  const number = (key) => (/^\d+$/.test(p.get(key) || '') ? Number(p.get(key)) : null);
  return {
    service: p.get('service') || '',
    name: p.get('name') || '',
    attrs: p.getAll('attr'),
    minDuration: p.get('min_duration') || '',
    maxDuration: p.get('max_duration') || '',
    lookback,
    start: number('start'),
    end: number('end'),
    error: p.get('error') === 'true',
    sameSpan: p.get('same_span') === 'true',
    limit: number('limit') || 20,
    sort: SORTS.some(([k]) => k === p.get('sort')) ? p.get('sort') : 'newest',
    cursors: (p.get('cursors') || '').split(',').filter(Boolean),
  };
}

function writeSearch(s) {
  const p = new URLSearchParams();
  const put = (key, value) => {
    if (value !== '' && value !== null && value !== undefined && value !== false) p.append(key, value);
  };
  put('service', s.service);
  put('name', s.name);
  for (const a of s.attrs) put('attr', a);
  put('min_duration', s.minDuration);
  put('max_duration', s.maxDuration);
  put('lookback', s.lookback);
  if (s.lookback === 'custom') put('start', s.start);
  put('end', s.end);
  put('error', s.error ? 'true' : '');
  put('same_span', s.sameSpan ? 'true' : '');
  if (s.limit !== 20) put('limit', s.limit);
  if (s.sort !== 'newest') put('sort', s.sort);
  put('cursors', s.cursors.join(','));
  return `/search?${p.toString()}`;
}

/** The search's time range in milliseconds: a lookback ends at `end` (now when none). */
function timeRange(s) {
  const end = s.end ?? Date.now();
  const lookback = LOOKBACKS.find(([k]) => k === s.lookback);
  if (lookback[2] !== null) return [end - lookback[2], end];
  return [s.start ?? end - 3600e3, end];
}

/** The API query of search `s`. */
export function searchQuery(s) {
  const [from, to] = timeRange(s);
  return {
    service: s.service,
    name: s.name,
    attr: s.attrs,
    min_duration: s.minDuration,
    max_duration: s.maxDuration,
    start: `${Math.floor(from)}000000`,
    end: `${Math.ceil(to)}000000`,
    error: s.error ? 'true' : '',
    same_span: s.sameSpan ? 'true' : '',
    limit: s.limit,
    sort: s.sort,
    cursor: s.cursors[s.cursors.length - 1],
  };
}

function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
}

export async function searchPage(main) {
  document.title = 'Search · Dapple';
  const s = readSearch();
  if (s.end === null) {
    // Pin the window's end, so a reload or a shared link shows the same traces.
    s.end = Date.now();
    history.replaceState(null, '', writeSearch(s));
  }
  const results = el('section', { id: 'results' }, loading('Searching'));
  const form = searchForm(s, results);
  replace(main, el('div', { class: 'search-layout' }, form, results));
  await showResults(s, results);
}

function searchForm(s, results) {
  const [from, to] = timeRange(s);
  const service = el('select', { name: 'service', id: 'service' }, el('option', { value: '' }, 'All services'));
  const name = el('select', { name: 'name', id: 'name' }, el('option', { value: '' }, 'All span names'));
  const lookback = el('select', { name: 'lookback', id: 'lookback' },
    LOOKBACKS.map(([k, label]) => el('option', { value: k, selected: k === s.lookback }, label)));
  const custom = el('div', { class: 'custom-range', hidden: s.lookback !== 'custom' },
    el('label', {}, 'From', el('input', { type: 'datetime-local', name: 'from', id: 'from', value: toLocalInput(from) })),
    el('label', {}, 'To', el('input', { type: 'datetime-local', name: 'to', id: 'to', value: toLocalInput(to) })));
  lookback.addEventListener('change', () => {
    custom.hidden = lookback.value !== 'custom';
  });

  const fillNames = async () => {
    const chosen = name.value || s.name;
    replace(name, el('option', { value: '' }, 'All span names'));
    try {
      let names;
      if (service.value) {
        names = (await api.names(service.value)).names;
      } else {
        const services = (await api.services()).services;
        const lists = await Promise.all(services.map((x) => api.names(x).then((r) => r.names, () => [])));
        names = [...new Set(lists.flat())].sort();
      }
      for (const n of names) name.append(el('option', { value: n, selected: n === chosen }, n));
    } catch {
      // The results area says what went wrong with the collector.
    }
    if (chosen && name.value !== chosen) name.append(el('option', { value: chosen, selected: true }, chosen));
  };
  api.services().then(({ services }) => {
    for (const x of services) service.append(el('option', { value: x, selected: x === s.service }, x));
    if (s.service && service.value !== s.service) service.append(el('option', { value: s.service, selected: true }, s.service));
    fillNames();
  }, () => {});
  service.addEventListener('change', fillNames);

  const form = el('form', { class: 'search-form', id: 'search-form' },
    el('h2', {}, 'Find traces'),
    el('label', {}, 'Service', service),
    el('label', {}, 'Span name', name),
    el('label', {}, 'Attributes', el('input', {
      name: 'attrs', id: 'attrs', placeholder: 'http.response.status_code=500 user.id=7', value: s.attrs.join(' '),
      title: 'key=value pairs separated by spaces; each may be on a different span of the trace, unless all filters must be on one span',
    })),
    el('div', { class: 'pair' },
      el('label', {}, 'Min duration', el('input', { name: 'min', id: 'min-duration', placeholder: '10ms', value: s.minDuration })),
      el('label', {}, 'Max duration', el('input', { name: 'max', id: 'max-duration', placeholder: '2s', value: s.maxDuration }))),
    el('label', {}, 'Time range', lookback),
    custom,
    el('div', { class: 'pair' },
      el('label', {}, 'Limit', el('input', { type: 'number', min: '1', max: '1000', name: 'limit', id: 'limit', value: s.limit })),
      el('label', {}, 'Order', el('select', { name: 'sort', id: 'sort' },
        SORTS.map(([k, label]) => el('option', { value: k, selected: k === s.sort }, label))))),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'error', id: 'error-only', checked: s.error }), 'Errors only'),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'sameSpan', id: 'same-span', checked: s.sameSpan }),
      'All filters on one span'),
    el('button', { type: 'submit', class: 'primary', id: 'search-button' }, 'Find traces'),
    el('p', { class: 'hint' }, 'A trace matches when its spans, between them, pass every filter: ',
      'the service on one span, the error on another. Tick \u201cAll filters on one span\u201d to ask one span to pass them all.'));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const f = form.elements;
    const next = {
      service: service.value,
      name: name.value,
      attrs: f.attrs.value.split(/\s+/).filter(Boolean),
      minDuration: f.min.value.trim(),
      maxDuration: f.max.value.trim(),
      lookback: lookback.value,
      start: null,
      end: Date.now(),
      error: f.error.checked,
      sameSpan: f.sameSpan.checked,
      limit: Number(f.limit.value) || 20,
      sort: f.sort.value,
      cursors: [],
    };
    if (next.lookback === 'custom') {
      next.start = new Date(f.from.value).getTime() || Date.now() - 3600e3;
      next.end = new Date(f.to.value).getTime() || Date.now();
    }
    go(next, results);
  });
  return form;
}

/** Puts a search in the URL (so it can be shared) and shows its results. */
function go(s, results) {
  history.pushState(null, '', writeSearch(s));
  showResults(s, results);
}

async function showResults(s, results) {
  replace(results, loading('Searching'));
  const [from, to] = timeRange(s);
  let answer;
  try {
    const { services } = await api.services();
    if (services.length === 0) {
      replace(results, noTracesYet());
      return;
    }
    answer = await api.search(searchQuery(s));
  } catch (e) {
    replace(results, errorMessage(e, 'Search'));
    return;
  }
  const traces = answer.traces;
  const heading = el('p', { class: 'result-count', id: 'result-count' },
    `${traces.length} trace${traces.length === 1 ? '' : 's'}`,
    s.cursors.length ? ` on page ${s.cursors.length + 1}` : '',
    ` · ${formatTime(BigInt(Math.floor(from)) * 1000000n)} to ${formatTime(BigInt(Math.floor(to)) * 1000000n)}`);
  if (traces.length === 0) {
    replace(results, heading, el('div', { class: 'message empty', id: 'no-results' },
      el('strong', {}, 'No traces match this search'),
      el('p', {}, 'Widen the time range, remove a filter, or check the attribute spelling (key=value, exact match).')));
    return;
  }
  const compare = comparePicker();
  replace(results, heading, el('p', { class: 'flame-link' }, el('a', { href: `/flame${location.search}`, id: 'flame-link' }, 'Flame graph of these traces')),
    scatter(traces), compare.bar, traceTable(traces, s, results, compare), pager(s, answer.next_cursor, results));
}

/** Duration over start time, one dot per trace; a click opens the trace. */
function scatter(traces) {
  const W = 1000;
  const H = 220;
  const pad = { left: 70, right: 20, top: 12, bottom: 28 };
  const starts = traces.map((t) => t.start_unix_nanos / 1e6);
  let lo = Math.min(...starts);
  let hi = Math.max(...starts);
  if (hi - lo < 1000) {
    lo -= 500;
    hi += 500;
  }
  const span = hi - lo;
  lo -= span * 0.03;
  hi += span * 0.03;
  const maxDuration = Math.max(...traces.map((t) => t.duration_nanos), 1);
  const yTicks = niceTicks(maxDuration, 4);
  const yMax = yTicks[yTicks.length - 1] || maxDuration;
  const x = (ms) => pad.left + ((ms - lo) / (hi - lo)) * (W - pad.left - pad.right);
  const y = (ns) => H - pad.bottom - (ns / yMax) * (H - pad.top - pad.bottom);
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
  return el('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${W} ${H}`, id: 'scatter', role: 'img', 'aria-label': 'Trace duration over start time' },
      yTicks.map((t) => svg('g', { class: 'grid' },
        svg('line', { x1: pad.left, x2: W - pad.right, y1: y(t), y2: y(t) }),
        svg('text', { x: pad.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, formatDuration(t)))),
      xTicks.map((t, i) => svg('text', {
        class: 'axis-label', x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === xTicks.length - 1 ? 'end' : 'middle',
      }, formatClock(t, hi - lo))),
      traces.map((t) => svg('circle', {
        class: t.error_count ? 'dot error' : 'dot',
        cx: x(t.start_unix_nanos / 1e6),
        cy: y(t.duration_nanos),
        r: Math.min(4 + Math.sqrt(t.span_count), 12),
        fill: t.error_count ? '#c62828' : serviceColor(t.root_service || ''),
        dataset: { traceId: t.trace_id },
        tabindex: '0',
        onclick: () => { location.href = `/trace/${t.trace_id}`; },
        onkeydown: (e) => { if (e.key === 'Enter') location.href = `/trace/${t.trace_id}`; },
      }, svg('title', {}, `${t.root_name} · ${formatDuration(t.duration_nanos)} · ${t.span_count} spans`)))),
    el('figcaption', {}, 'Duration by start time; red dots have errors. Click a dot to open its trace.'));
}

/**
 * The "Compare" bar over the list, and the ticks it counts: the first trace
 * ticked is A, the second B; with two ticked the others wait.
 */
function comparePicker() {
  const picked = [];
  const button = el('button', {
    type: 'button',
    id: 'compare-button',
    class: 'primary',
    disabled: true,
    onclick: () => {
      if (picked.length !== 2) return;
      const p = new URLSearchParams({ a: picked[0], b: picked[1] });
      location.href = `/compare?${p}`;
    },
  }, 'Compare');
  const hint = el('span', { class: 'hint', id: 'compare-hint' });
  const bar = el('div', { class: 'compare-bar' }, button, hint);
  const boxes = [];
  const refresh = () => {
    button.disabled = picked.length !== 2;
    hint.textContent = picked.length === 2 ? `A ${picked[0].slice(0, 8)}… with B ${picked[1].slice(0, 8)}…`
      : `Tick ${2 - picked.length} ${picked.length ? 'more trace' : 'traces'} to compare`;
    for (const box of boxes) box.disabled = picked.length === 2 && !box.checked;
  };
  const checkbox = (traceId) => {
    const box = el('input', {
      type: 'checkbox',
      class: 'compare-pick',
      'aria-label': `Compare trace ${traceId}`,
      onchange: () => {
        const at = picked.indexOf(traceId);
        if (box.checked && at < 0) picked.push(traceId);
        if (!box.checked && at >= 0) picked.splice(at, 1);
        refresh();
      },
    });
    boxes.push(box);
    return box;
  };
  refresh();
  return { bar, checkbox };
}

function traceTable(traces, s, results, compare) {
  const sortHeader = (label, sorts, id) => {
    const active = sorts.includes(s.sort);
    const next = active && sorts.length > 1 ? sorts[(sorts.indexOf(s.sort) + 1) % sorts.length] : sorts[0];
    const arrow = active ? (s.sort === 'shortest' ? ' ▲' : ' ▼') : '';
    return el('th', { class: 'num sortable', 'aria-sort': active ? (s.sort === 'shortest' ? 'ascending' : 'descending') : 'none' },
      el('button', { type: 'button', id, onclick: () => go({ ...s, sort: next, cursors: [] }, results) }, label + arrow));
  };
  return el('div', { class: 'table-scroll' },
    el('table', { class: 'data traces', id: 'trace-list' },
      el('thead', {}, el('tr', {},
        el('th', { class: 'pick' }, el('span', { class: 'visually-hidden' }, 'Compare')),
        el('th', {}, 'Trace'), el('th', {}, 'Root span'), el('th', {}, 'Service'),
        el('th', { class: 'num' }, 'Spans'), el('th', { class: 'num' }, 'Errors'),
        sortHeader('Duration', ['longest', 'shortest'], 'sort-duration'),
        sortHeader('Start time', ['newest'], 'sort-start'))),
      el('tbody', {}, traces.map((t) => el('tr', {
        class: t.error_count ? 'has-errors' : '',
        dataset: { traceId: t.trace_id },
        onclick: (e) => {
          if (e.target.closest('a, input, .pick')) return;
          location.href = `/trace/${t.trace_id}`;
        },
      },
      el('td', { class: 'pick' }, compare.checkbox(t.trace_id)),
      el('td', {}, el('a', { href: `/trace/${t.trace_id}`, class: 'trace-link' }, el('code', {}, t.trace_id.slice(0, 16)))),
      el('td', { class: 'root-name' }, t.root_name || '(no root)'),
      el('td', {}, serviceBadge(t.root_service || '?'),
        t.services.length > 1 ? el('span', { class: 'more', title: t.services.join(', ') }, ` +${t.services.length - 1}`) : null),
      el('td', { class: 'num span-count' }, t.span_count),
      el('td', { class: 'num error-count' }, t.error_count ? el('span', { class: 'badge error' }, t.error_count) : '0'),
      el('td', { class: 'num' }, formatDuration(t.duration_nanos)),
      el('td', { class: 'num' }, formatTime(BigInt(Math.round(t.start_unix_nanos / 1e6)) * 1000000n)))))));
}

function pager(s, nextCursor, results) {
  if (!s.cursors.length && !nextCursor) return null;
  return el('nav', { class: 'pager', 'aria-label': 'Pages' },
    el('button', { type: 'button', id: 'first-page', disabled: !s.cursors.length, onclick: () => go({ ...s, cursors: [] }, results) }, '« First'),
    el('button', { type: 'button', id: 'previous-page', disabled: !s.cursors.length, onclick: () => go({ ...s, cursors: s.cursors.slice(0, -1) }, results) }, '‹ Previous'),
    el('span', { id: 'page-number' }, `Page ${s.cursors.length + 1}`),
    el('button', { type: 'button', id: 'next-page', disabled: !nextCursor, onclick: () => go({ ...s, cursors: [...s.cursors, nextCursor] }, results) }, 'Next ›'));
}
