// The compare page (`/compare?a=TRACE&b=TRACE`): two traces side by side,
// their spans matched by path, the (service, name) pairs from the root down.
// Spans that repeat one path (the items of a loop, the retries of a call)
// are added up into one row that says how many there were, so a trace of
// thousands of alike spans compares in a few rows. Each row gives the time
// in A, in B and the change; paths in one trace only, and errors in one
// trace only, are marked; the largest changes stand out, and can come first.

import { api } from './api.js';
import { buildModel } from './trace.js';
import { el, errorMessage, formatDuration, loading, replace, serviceBadge } from './util.js';

/** How many of the largest changes are highlighted. */
const HIGHLIGHTED = 3;

const ORDERS = [['tree', 'Tree order'], ['change', 'Largest change first']];

function readState() {
  const p = new URLSearchParams(location.search);
  return {
    a: (p.get('a') || '').trim(),
    b: (p.get('b') || '').trim(),
    order: p.get('order') === 'change' ? 'change' : 'tree',
  };
}

function writeState(state) {
  const p = new URLSearchParams({ a: state.a, b: state.b });
  if (state.order !== 'tree') p.set('order', state.order);
  return `/compare?${p}`;
}

export async function comparePage(main) {
  document.title = 'Compare traces · Dapple';
  const state = readState();
  if (!state.a || !state.b) {
    replace(main, el('h1', {}, 'Compare two traces'),
      el('div', { class: 'message', id: 'compare-missing' },
        el('strong', {}, 'Two trace ids are needed'),
        el('p', {}, 'Tick two traces in the ', el('a', { href: '/search' }, 'search results'),
          ' and press Compare, or paste their ids here.')),
      pairForm(main, state));
    return;
  }
  replace(main, loading('Loading both traces'));
  const answers = await Promise.allSettled([api.trace(state.a), api.trace(state.b)]);
  const failures = [];
  const traces = answers.map((answer, i) => {
    const [side, id] = i === 0 ? ['A', state.a] : ['B', state.b];
    if (answer.status === 'rejected') {
      failures.push(failure(side, id, answer.reason));
      return null;
    }
    if (answer.value.trace.spans.length === 0) {
      failures.push(failure(side, id, Object.assign(new Error(`Trace ${id} has no spans.`), { status: 404 })));
      return null;
    }
    return answer.value.trace;
  });
  if (failures.length) {
    replace(main, el('h1', {}, 'Compare two traces'), el('div', { id: 'compare-error' }, failures), pairForm(main, state));
    return;
  }
  const [a, b] = traces.map(buildModel);
  const rows = compareRows(a, b);
  const table = el('div', { class: 'table-scroll' });
  const orderButtons = ORDERS.map(([key, label]) => el('button', {
    type: 'button',
    id: `order-${key}`,
    'aria-pressed': String(key === state.order),
    onclick: () => {
      state.order = key;
      history.replaceState(null, '', writeState(state));
      for (const button of orderButtons) button.setAttribute('aria-pressed', String(button.id === `order-${key}`));
      replace(table, rowTable(rows, state.order));
    },
  }, label));
  replace(table, rowTable(rows, state.order));
  replace(main,
    el('div', { class: 'page-head' },
      el('h1', {}, 'Compare two traces'),
      el('a', { id: 'swap', href: writeState({ ...state, a: state.b, b: state.a }) }, 'Swap A and B')),
    summary(a, b, rows),
    el('div', { class: 'toolbar compare-toolbar' }, el('span', { class: 'hint' }, 'Order:'), orderButtons),
    table,
    el('p', { class: 'hint' }, 'Spans are matched by their path of (service, span name) from the root. ',
      'Spans that repeat a path are added up: ×N says how many there were.'));
}

/** What went wrong with one side's trace. */
function failure(side, id, error) {
  const box = errorMessage(error, `Loading trace ${side}`);
  if (error && (error.status === 404 || error.status === 0)) {
    const title = box.querySelector('strong');
    title.textContent = `Trace ${side}: ${title.textContent.toLowerCase()}`;
  }
  if (error && error.status === 404) {
    box.append(el('p', {}, `Trace ${side} (`, el('code', {}, id), ') is not stored here: it may have been evicted, ',
      'its spans may not have arrived yet, or the id is mistyped.'));
  } else {
    box.append(el('p', {}, `Trace ${side} was `, el('code', {}, id), '.'));
  }
  box.dataset.side = side;
  return box;
}

/** Two inputs for the ids, for a URL without them or with a wrong one. */
function pairForm(main, state) {
  const input = (side, value) => el('label', {}, `Trace ${side.toUpperCase()}`, el('input', {
    name: side, id: `compare-${side}`, value, required: true, spellcheck: 'false', autocomplete: 'off',
    placeholder: '4bf92f3577b34da6a3ce929d0e0e4736',
  }));
  return el('form', {
    class: 'search-form compare-form',
    id: 'compare-form',
    onsubmit: (event) => {
      event.preventDefault();
      const f = event.target.elements;
      history.pushState(null, '', writeState({ ...state, a: f.a.value.trim(), b: f.b.value.trim() }));
      comparePage(main);
    },
  },
  input('a', state.a), input('b', state.b),
  el('button', { type: 'submit', class: 'primary', id: 'compare-submit' }, 'Compare'));
}

/**
 * Each path's spans in one trace, in the trace's display order: the path,
 * how many spans, their summed duration and how many failed.
 */
function pathsOf(model) {
  const pathOf = new Map();
  const paths = new Map();
  for (const span of model.order) {
    const path = pathOf.get(span) || [[span.service, span.name]];
    for (const child of span.children) pathOf.set(child, [...path, [child.service, child.name]]);
    const key = JSON.stringify(path);
    let entry = paths.get(key);
    if (!entry) {
      entry = { key, path, count: 0, total: 0, errors: 0 };
      paths.set(key, entry);
    }
    entry.count += 1;
    entry.total += span.duration_nanos;
    entry.errors += span.error ? 1 : 0;
  }
  return paths;
}

/**
 * One row per path of either trace, in tree order (A's order, then B's
 * paths A lacks after their siblings): its figures on each side and the
 * change from A to B.
 */
function compareRows(a, b) {
  const inA = pathsOf(a);
  const inB = pathsOf(b);
  const nodes = new Map();
  const roots = [];
  for (const entry of [...inA.values(), ...inB.values()]) {
    if (nodes.has(entry.key)) continue;
    const [service, name] = entry.path[entry.path.length - 1];
    const node = {
      key: entry.key,
      path: entry.path,
      depth: entry.path.length - 1,
      service,
      name,
      a: inA.get(entry.key) || null,
      b: inB.get(entry.key) || null,
      children: [],
    };
    node.change = (node.b ? node.b.total : 0) - (node.a ? node.a.total : 0);
    node.ratio = node.a && node.b && node.a.total > 0 ? node.change / node.a.total : null;
    node.errorIn = Boolean(node.a?.errors) === Boolean(node.b?.errors) ? null : node.a?.errors ? 'A' : 'B';
    nodes.set(entry.key, node);
    const parent = nodes.get(JSON.stringify(entry.path.slice(0, -1)));
    (parent ? parent.children : roots).push(node);
  }
  const rows = [];
  const walk = (list) => {
    for (const node of list) {
      rows.push(node);
      walk(node.children);
    }
  };
  walk(roots);
  [...rows].filter((r) => r.change !== 0)
    .sort((x, y) => Math.abs(y.change) - Math.abs(x.change))
    .slice(0, HIGHLIGHTED)
    .forEach((r, i) => { r.rank = i + 1; });
  return rows;
}

/** `+1.20 ms`, `−350 µs`. */
function signedDuration(nanos) {
  if (nanos === 0) return '0';
  return `${nanos > 0 ? '+' : '−'}${formatDuration(Math.abs(nanos))}`;
}

/** `+12.5%`, `−40%`. */
function signedPercent(ratio) {
  const p = ratio * 100;
  const text = Math.abs(p) >= 100 ? Math.abs(p).toFixed(0) : Math.abs(p).toFixed(1);
  return p === 0 ? '0%' : `${p > 0 ? '+' : '−'}${text}%`;
}

/** `+2`, `−1`, `0`. */
function signedCount(n) {
  return n > 0 ? `+${n}` : n < 0 ? `−${-n}` : '0';
}

function changeClass(change) {
  return change > 0 ? 'slower' : change < 0 ? 'faster' : '';
}

/** The two traces' totals, side by side, and what differs between them. */
function summary(a, b, rows) {
  const figures = (model) => ({
    duration: model.total,
    spans: model.spans.length,
    errors: model.spans.filter((s) => s.error).length,
  });
  const fa = figures(a);
  const fb = figures(b);
  const card = (side, model, f) => el('section', { class: 'compare-card', id: `side-${side.toLowerCase()}` },
    el('h2', {}, el('span', { class: 'side-label' }, side), ' ',
      el('a', { class: 'trace-link', href: `/trace/${encodeURIComponent(model.trace.trace_id)}` },
        model.root ? model.root.name : '(no root)')),
    el('p', { class: 'trace-id' }, el('code', {}, model.trace.trace_id)),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Duration'), el('dd', { class: 'duration' }, formatDuration(f.duration)),
      el('dt', {}, 'Spans'), el('dd', { class: 'span-count' }, f.spans),
      el('dt', {}, 'Errors'), el('dd', { class: `error-count${f.errors ? ' status-error' : ''}` }, f.errors),
      el('dt', {}, 'Services'), el('dd', {}, model.services.map((s) => serviceBadge(s)).flatMap((x, i) => (i ? [' ', x] : [x])))));
  const change = fb.duration - fa.duration;
  const onlyA = rows.filter((r) => !r.b).length;
  const onlyB = rows.filter((r) => !r.a).length;
  const errorDiffs = rows.filter((r) => r.errorIn).length;
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  return el('div', { class: 'compare-summary', id: 'compare-summary' },
    card('A', a, fa),
    card('B', b, fb),
    el('section', { class: 'compare-card compare-delta', id: 'summary-delta' },
      el('h2', {}, 'B against A'),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Duration'),
        el('dd', { class: `duration-change ${changeClass(change)}` }, signedDuration(change),
          fa.duration > 0 ? ` (${signedPercent(change / fa.duration)})` : ''),
        el('dt', {}, 'Spans'), el('dd', { class: 'span-change' }, signedCount(fb.spans - fa.spans)),
        el('dt', {}, 'Errors'), el('dd', { class: 'error-change' }, `${fa.errors} in A, ${fb.errors} in B`),
        el('dt', {}, 'Paths'), el('dd', { class: 'path-change' },
          `${onlyA} only in A, ${onlyB} only in B, `, count(errorDiffs, 'error difference', 'error differences')))));
}

/** The rows as a table, in tree order or the largest change first. */
function rowTable(rows, order) {
  const shown = order === 'change'
    ? [...rows].sort((x, y) => Math.abs(y.change) - Math.abs(x.change))
    : rows;
  const side = (figures, other) => {
    if (!figures) return el('td', { class: 'num absent' }, '—');
    return el('td', { class: 'num' },
      figures.errors ? el('span', { class: 'error-mark', title: `${figures.errors} failed` }, '!') : null,
      figures.errors ? ' ' : null,
      formatDuration(figures.total),
      figures.count > 1 || (other && other.count !== figures.count)
        ? el('span', { class: 'repeat', title: `${figures.count} spans at this path` }, ` ×${figures.count}`) : null);
  };
  const marks = (row) => [
    !row.b ? el('span', { class: 'mark only-a' }, 'only in A') : null,
    !row.a ? el('span', { class: 'mark only-b' }, 'only in B') : null,
    row.errorIn ? el('span', { class: 'mark error-diff' }, `error only in ${row.errorIn}`) : null,
    row.rank ? el('span', { class: 'mark top-change', title: 'One of the largest changes' }, `#${row.rank} change`) : null,
  ];
  return el('table', { class: 'data compare', id: 'compare-table' },
    el('thead', {}, el('tr', {},
      el('th', {}, 'Span path'), el('th', { class: 'num' }, 'A'), el('th', { class: 'num' }, 'B'),
      el('th', { class: 'num' }, 'Change'), el('th', { class: 'num' }, '%'), el('th', {}, ''))),
    el('tbody', {}, shown.map((row) => el('tr', {
      class: [
        row.a && row.b ? 'both' : row.a ? 'only-a' : 'only-b',
        row.errorIn ? 'error-diff' : '',
        row.rank ? 'top-change' : '',
      ].filter(Boolean).join(' '),
      dataset: {
        service: row.service,
        name: row.name,
        presence: row.a && row.b ? 'both' : row.a ? 'a' : 'b',
        errorIn: row.errorIn || '',
        change: String(row.change),
      },
    },
    el('td', { class: 'path-name', title: row.path.map(([service, name]) => `${service} ${name}`).join(' › ') },
      el('span', { class: 'indent', style: { 'padding-left': `${(order === 'change' ? 0 : row.depth) * 1.1}rem` } },
        serviceBadge(row.service), ' ', el('span', { class: 'span-name' }, row.name))),
    side(row.a, row.b),
    side(row.b, row.a),
    el('td', { class: `num change ${changeClass(row.change)}` }, signedDuration(row.change)),
    el('td', { class: `num change-percent ${changeClass(row.change)}` }, row.ratio === null ? '' : signedPercent(row.ratio)),
    el('td', { class: 'marks' }, marks(row))))));
}
