// Flame graphs: an icicle of boxes (roots on top, each child below its
// parent) drawn as a bounded number of DOM boxes. The trace page lays one
// trace out in time (`traceBoxes`); the `/flame` page sums the traces of a
// search by path of span names, root first (`flamePage`).

import { api } from './api.js';
import {
  el, errorMessage, formatDuration, formatPercent, loading, niceTicks, replace, serviceBadge, serviceColor,
} from './util.js';
// trace.js imports this module too: these are only called once both are loaded.
import { buildModel, busyNote } from './trace.js';
import { readSearch, searchQuery } from './search.js';

/** Height of a row of boxes, in pixels (`.fl-box` in common.css fits it). */
const ROW = 22;
/** Boxes narrower than this many pixels are merged with their narrow neighbours, and drawn this wide. */
const MIN_PX = 1;
/** At most this many boxes in the page, whatever the graph: deeper rows are left out past it. */
const MAX_BOXES = 5000;
/** Traces fetched at the same time by the aggregated graph. */
const PARALLEL_FETCHES = 6;

/**
 * An icicle graph. A box is `{ x, width, row, group, label, color, error, busy, data, item }`:
 * `x` and `width` in the graph's unit (nanoseconds), `group` its parent's
 * key (narrow boxes merge within it), `busy` the share of it
 * spent inside `poll` (or null), `data` the box's `dataset`, `item` what a
 * click selects. A run of neighbours in a row each narrower than a pixel
 * becomes one grey box that says how many it stands for, at least a pixel
 * wide, as is a narrow box on its own. A double click zooms to a box, so
 * what was too narrow shows apart.
 */
export class FlameGraph {
  /**
   * `unit` names what a box stands for (`spans`); `describe(item)` is a
   * box's tooltip; `classesOf(item)` its extra classes (selected, match);
   * `onSelect(item)` is called on a click or Enter; `axis` draws time ticks.
   */
  constructor({ id, label, unit, describe, classesOf, onSelect, axis }) {
    this.unit = unit;
    this.describe = describe;
    this.classesOf = classesOf || (() => []);
    this.onSelect = onSelect;
    this.boxes = [];
    this.extent = 1;
    this.from = 0;
    this.to = 1;
    this.width = 0;
    this.drawn = new Map();
    this.omitted = 0;

    this.canvas = el('div', { class: 'fl-canvas' });
    this.axisBox = axis ? el('div', { class: 'fl-axis', 'aria-hidden': 'true' }) : null;
    this.reset = el('button', { type: 'button', id: `${id}-reset`, hidden: true, onclick: () => this.zoom(0, this.extent) }, 'Reset zoom');
    this.note = el('span', { class: 'fl-note', id: `${id}-note` });
    this.node = el('div', { class: 'flame', id, role: 'group', 'aria-label': label },
      el('div', { class: 'fl-caption' },
        el('span', {}, 'Width is time. Click a box for its details; double-click to zoom in.'), this.note, this.reset),
      this.axisBox,
      el('div', { class: 'fl-scroll' }, this.canvas));
    this.canvas.addEventListener('click', (e) => this.pick(e, false));
    this.canvas.addEventListener('dblclick', (e) => this.pick(e, true));
    this.canvas.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') this.pick(e, e.shiftKey);
    });
    // The narrow boxes to merge depend on the width: draw again when it
    // changes, and for the first time when a hidden graph is shown.
    new ResizeObserver(() => {
      if (this.canvas.clientWidth !== this.width) this.draw();
    }).observe(this.canvas);
  }

  /** Shows `boxes`, spread over `[0, extent]`, zoomed out. */
  show(boxes, extent) {
    this.boxes = [...boxes].sort((a, b) => a.row - b.row || a.x - b.x);
    this.extent = Math.max(extent, 1);
    this.zoom(0, this.extent);
  }

  /** Shows `[from, to]` of the graph across the whole width. */
  zoom(from, to) {
    this.from = from;
    this.to = Math.max(to, from + 1);
    this.reset.hidden = from <= 0 && to >= this.extent;
    this.draw();
  }

  pick(event, zoom) {
    const node = event.target.closest('.fl-box');
    const box = node && this.drawn.get(node);
    if (!box) return;
    if (zoom) this.zoom(box.x, box.x + box.width);
    else if (box.item !== undefined) this.onSelect(box.item);
  }

  /** Lays the boxes in view out at the current width. */
  draw() {
    this.width = this.canvas.clientWidth;
    this.drawn = new Map();
    if (!this.width) return;
    const { from, to } = this;
    const perPx = (to - from) / this.width;
    const place = [];
    let omitted = 0;
    let run = null;
    const endRun = () => {
      if (!run) return;
      // At least a pixel wide, within the view.
      const width = Math.max(run.end - run.x, perPx * MIN_PX);
      const x = Math.min(run.x, to - width);
      place.push(run.count === 1
        ? { ...run.box, x, width, source: run.box }
        : { x, width, row: run.row, merged: run.count, label: `${run.count}` });
      run = null;
    };
    for (const box of this.boxes) {
      const a = Math.max(box.x, from);
      const z = Math.min(box.x + box.width, to);
      if (z < a || (z === a && box.width > 0)) continue;
      if (place.length >= MAX_BOXES) {
        omitted += 1;
        continue;
      }
      if ((z - a) / perPx >= MIN_PX) {
        endRun();
        place.push({ ...box, x: a, width: z - a, source: box });
      } else if (run && run.row === box.row && (a - run.end) / perPx < MIN_PX
        // A run stops at its parent's edge, unless it is still too narrow to show.
        && (run.group === box.group || (run.end - run.x) / perPx < MIN_PX)) {
        run.end = Math.max(run.end, z);
        run.count += 1;
        run.group = box.group;
      } else {
        endRun();
        run = { x: a, end: z, row: box.row, count: 1, group: box.group, box };
      }
    }
    endRun();
    this.omitted = omitted;
    this.note.textContent = omitted ? `${omitted} more ${this.unit} left out: zoom in to see them` : '';

    const rows = place.reduce((most, b) => Math.max(most, b.row + 1), 0);
    this.canvas.style.setProperty('height', `${rows * ROW}px`);
    const percent = (x) => `${((x - from) / (to - from)) * 100}%`;
    const nodes = place.map((b) => {
      const node = b.merged
        ? el('div', {
          class: 'fl-box merged',
          tabindex: '0',
          title: `${b.merged} ${this.unit} too narrow to draw apart: double-click to zoom in`,
          dataset: { merged: String(b.merged) },
          style: { left: percent(b.x), width: `${(b.width / (to - from)) * 100}%`, top: `${b.row * ROW}px` },
        }, el('span', { class: 'fl-label' }, b.label))
        : el('div', {
          class: 'fl-box',
          tabindex: '0',
          role: 'button',
          title: this.describe(b.item),
          dataset: b.data,
          style: {
            left: percent(b.x), width: `${(b.width / (to - from)) * 100}%`, top: `${b.row * ROW}px`,
            'background-color': b.color,
          },
        },
        b.busy !== null && b.busy !== undefined
          ? el('span', { class: 'fl-busy', style: { width: `${b.busy * 100}%`, 'background-color': b.color } })
          : null,
        el('span', { class: 'fl-label' }, b.label));
      this.drawn.set(node, b.merged ? { x: b.x, width: b.width } : b.source);
      return node;
    });
    replace(this.canvas, nodes);
    this.refreshClasses();
    if (this.axisBox) {
      // Round times within the view, zoomed or not.
      const steps = niceTicks(to - from, 5);
      const step = steps[1] || to - from;
      const ticks = [];
      for (let t = Math.ceil(from / step) * step; t <= to && ticks.length < 20; t += step) ticks.push(t);
      replace(this.axisBox, ticks.map((t) => el('span', { class: 'tick', style: { left: percent(t) } }, formatDuration(t))));
    }
  }

  /** Sets the boxes' classes again (after a selection or a find), without a new layout. */
  refreshClasses() {
    for (const [node, box] of this.drawn) {
      if (box.item === undefined) continue;
      const classes = ['fl-box', ...this.classesOf(box.item)];
      if (box.error) classes.push('error');
      if (box.busy !== null && box.busy !== undefined) classes.push('has-busy');
      node.className = classes.join(' ');
    }
  }
}

/**
 * One trace's boxes: x is the start within the trace, width the duration.
 * Each span goes in the first row below its parent's where it overlaps no
 * box already placed, so concurrent siblings stack instead of covering each
 * other.
 */
export function traceBoxes(model) {
  const parentOf = new Map();
  for (const s of model.order) for (const c of s.children) parentOf.set(c, s);
  // Per row, the intervals taken, by start (they never overlap, so by end too).
  const rows = [];
  const rowOf = new Map();
  const boxes = [];
  for (const s of model.order) {
    const parent = parentOf.get(s);
    let row = parent ? rowOf.get(parent) + 1 : 0;
    for (;; row++) {
      const taken = rows[row] || (rows[row] = []);
      let lo = 0;
      let hi = taken.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (taken[mid][1] > s.offset) hi = mid;
        else lo = mid + 1;
      }
      if (lo < taken.length && taken[lo][0] < s.end) continue;
      taken.splice(lo, 0, [s.offset, s.end]);
      break;
    }
    rowOf.set(s, row);
    boxes.push({
      x: s.offset,
      width: s.duration_nanos,
      row,
      group: parent ? parent.span_id : '',
      label: s.name,
      color: serviceColor(s.service),
      error: s.error,
      busy: s.poll ? s.poll.share : null,
      data: {
        spanId: s.span_id, parentId: parent ? parent.span_id : '', name: s.name, service: s.service, row: String(row),
      },
      item: s,
    });
  }
  return boxes;
}

/** A span's tooltip in the flame graph. */
export function describeSpan(span) {
  const lines = [`${span.service}: ${span.name}`, formatDuration(span.duration_nanos)];
  if (span.poll) lines.push(busyNote(span.poll));
  if (span.error) lines.push(`error${span.status.message ? `: ${span.status.message}` : ''}`);
  return lines.join('\n');
}

// The aggregated flame graph of a search: `/flame?<the search page's query>`.

/** The search's filters in words, for the page's heading. */
function searchWords(p) {
  const words = [];
  if (p.get('service')) words.push(`service ${p.get('service')}`);
  if (p.get('name')) words.push(`span name ${p.get('name')}`);
  for (const a of p.getAll('attr')) words.push(a);
  if (p.get('min_duration')) words.push(`at least ${p.get('min_duration')}`);
  if (p.get('max_duration')) words.push(`at most ${p.get('max_duration')}`);
  if (p.get('error') === 'true') words.push('errors only');
  if (p.get('same_span') === 'true') words.push('all on one span');
  return words.length ? words.join(', ') : 'all traces';
}

/** The traces with these ids, a few at a time; a failed one is its error. */
async function fetchTraces(ids, progress) {
  const results = new Array(ids.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      try {
        results[i] = (await api.trace(ids[i])).trace;
      } catch (e) {
        results[i] = e;
      }
      progress(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FETCHES, ids.length) }, worker));
  return results;
}

const PATH_SEPARATOR = ' > ';

/**
 * The traces' spans summed by path, the (service, name) pairs from the
 * root down. A span adopted under the root (its parent never arrived) counts
 * there, as the waterfall shows it.
 */
export function aggregate(models) {
  const top = { children: new Map() };
  const nodes = [];
  for (const model of models) {
    const stack = model.order.filter((s) => s.depth === 0).reverse().map((s) => [s, top]);
    const seen = new Set();
    while (stack.length) {
      const [span, parent] = stack.pop();
      if (seen.has(span)) continue;
      seen.add(span);
      const key = `${span.service}\u0000${span.name}`;
      let node = parent.children.get(key);
      if (!node) {
        const step = `${span.service}: ${span.name}`;
        node = {
          service: span.service,
          name: span.name,
          path: parent.path ? `${parent.path}${PATH_SEPARATOR}${step}` : step,
          parentPath: parent.path || '',
          depth: parent.path ? parent.depth + 1 : 0,
          count: 0,
          total: 0,
          errors: 0,
          busy: 0,
          polled: 0,
          traces: new Set(),
          longest: null,
          children: new Map(),
        };
        parent.children.set(key, node);
        nodes.push(node);
      }
      node.count += 1;
      node.total += span.duration_nanos;
      if (span.error) node.errors += 1;
      if (span.poll) {
        node.busy += span.poll.busy;
        node.polled += 1;
      }
      node.traces.add(model.trace.trace_id);
      if (!node.longest || span.duration_nanos > node.longest.duration) {
        node.longest = { duration: span.duration_nanos, trace: model.trace.trace_id, span: span.span_id };
      }
      for (let i = span.children.length - 1; i >= 0; i--) stack.push([span.children[i], node]);
    }
  }
  return { top, nodes };
}

/**
 * The aggregate's boxes: siblings side by side, the largest first, each as
 * wide as its total time; children that add up to more than their parent
 * (they ran at the same time) are scaled down to fit under it.
 */
function aggregateBoxes(top) {
  const boxes = [];
  const roots = bySize(top.children);
  const extent = roots.reduce((sum, n) => sum + n.total, 0);
  const stack = [[roots, 0, extent, 0]];
  while (stack.length) {
    const [nodes, x, width, row] = stack.pop();
    const sum = nodes.reduce((t, n) => t + n.total, 0);
    const scale = sum > width && sum > 0 ? width / sum : 1;
    let at = x;
    for (const n of nodes) {
      const w = n.total * scale;
      boxes.push({
        x: at,
        width: w,
        row,
        group: n.parentPath,
        label: n.name,
        color: serviceColor(n.service),
        error: n.errors > 0,
        busy: n.polled === n.count && n.total > 0 ? Math.min(n.busy / n.total, 1) : null,
        data: {
          path: n.path, name: n.name, service: n.service, count: String(n.count), errors: String(n.errors),
        },
        item: n,
      });
      if (n.children.size) stack.push([bySize(n.children), at, w, row + 1]);
      at += w;
    }
  }
  return { boxes, extent };
}

/** The aggregate's paths depth first, siblings by total time. */
function treeOrder(top) {
  const order = [];
  const stack = [...bySize(top.children)].reverse();
  while (stack.length) {
    const n = stack.pop();
    order.push(n);
    stack.push(...bySize(n.children).reverse());
  }
  return order;
}

function bySize(children) {
  return [...children.values()].sort((a, b) => b.total - a.total || a.path.localeCompare(b.path));
}

function describeNode(n) {
  return [
    n.path,
    `${n.count} span${n.count === 1 ? '' : 's'} in ${n.traces.size} trace${n.traces.size === 1 ? '' : 's'}`,
    `total ${formatDuration(n.total)}, mean ${formatDuration(n.total / n.count)}`,
    `${n.errors} error${n.errors === 1 ? '' : 's'}`,
  ].join('\n');
}

export async function flamePage(main) {
  document.title = 'Flame graph · Dapple';
  const params = new URLSearchParams(location.search);
  if (!/^\d+$/.test(params.get('end') || '')) {
    // Pin the window's end, as the search page does, so a reload shows the same traces.
    params.set('end', String(Date.now()));
    history.replaceState(null, '', `/flame?${params}`);
  }
  const searchLink = el('a', { href: `/search?${params}`, id: 'flame-search' }, searchWords(params));
  const progress = loading('Searching');
  replace(main, el('p', { class: 'hint' }, 'Traces of the search for ', searchLink), progress);
  let models;
  let failed = [];
  try {
    const answer = await api.search(searchQuery(readSearch()));
    const ids = answer.traces.map((t) => t.trace_id);
    const traces = await fetchTraces(ids, (done) => {
      progress.textContent = `Loading trace ${done} of ${ids.length}…`;
    });
    failed = traces.filter((t) => t instanceof Error);
    if (failed.length && failed.length === traces.length) throw failed[0];
    models = traces.filter((t) => !(t instanceof Error) && t.spans.length).map(buildModel);
  } catch (e) {
    replace(main, el('p', { class: 'hint' }, 'Traces of the search for ', searchLink), errorMessage(e, 'Loading the traces'));
    return;
  }
  new AggregateView(main, models, failed, searchLink);
}

class AggregateView {
  constructor(main, models, failed, searchLink) {
    this.selected = null;
    const { top, nodes } = aggregate(models);
    this.order = treeOrder(top);
    const spans = models.reduce((sum, m) => sum + m.spans.length, 0);
    const services = [...new Set(nodes.map((n) => n.service))].sort();
    this.details = el('section', { class: 'details', id: 'flame-details' },
      el('p', { class: 'hint' }, 'Click a box to see its path\'s count, total and mean time, and errors.'));
    const heading = el('div', { class: 'page-head' },
      el('h1', {}, `Flame graph of ${models.length} trace${models.length === 1 ? '' : 's'}`),
      el('a', { href: searchLink.href }, '‹ Back to the search'));
    const summary = el('div', { class: 'summary' },
      el('span', {}, 'Traces ', el('strong', { id: 'flame-trace-count' }, models.length)),
      el('span', {}, 'Spans ', el('strong', {}, spans)),
      el('span', {}, 'Paths ', el('strong', { id: 'flame-path-count' }, nodes.length)),
      el('span', { class: 'legend' }, services.map(serviceBadge)));
    const problems = failed.length
      ? el('p', { class: 'message info', id: 'flame-failed' },
        `${failed.length} trace${failed.length === 1 ? '' : 's'} of the search could not be loaded (${failed[0].message}) and ${failed.length === 1 ? 'is' : 'are'} left out.`)
      : null;
    if (models.length === 0) {
      replace(main, heading, el('p', { class: 'hint' }, 'Traces of the search for ', searchLink), problems,
        el('div', { class: 'message empty', id: 'no-results' },
          el('strong', {}, 'No traces match this search'),
          el('p', {}, 'Widen the time range or remove a filter on the search page.')));
      return;
    }
    this.graph = new FlameGraph({
      id: 'agg-flame',
      label: 'Time summed over the traces, by path of span names',
      unit: 'paths',
      describe: describeNode,
      classesOf: (n) => (n === this.selected ? ['selected'] : []),
      onSelect: (n) => this.select(n),
      axis: false,
    });
    replace(main, heading, el('p', { class: 'hint' }, 'Traces of the search for ', searchLink,
      '. Each box is a path of span names from the root, as wide as the time its spans took, summed over the traces.'),
    summary, problems, this.graph.node, this.details, this.table());
    const { boxes, extent } = aggregateBoxes(top);
    this.graph.show(boxes, extent);
  }

  select(node) {
    this.selected = node;
    this.graph.refreshClasses();
    for (const row of this.rows) row.classList.toggle('selected', row.node === node);
    const steps = node.path.split(PATH_SEPARATOR);
    replace(this.details,
      el('h2', {}, serviceBadge(node.service), ' ', el('span', { id: 'flame-detail-name' }, node.name)),
      el('p', { class: 'fl-path', id: 'flame-detail-path' }, steps.map((step, i) => [i ? ' › ' : '', el('span', {}, step)])),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Spans'), el('dd', { id: 'flame-detail-count' }, node.count),
        el('dt', {}, 'Traces'), el('dd', { id: 'flame-detail-traces' }, node.traces.size),
        el('dt', {}, 'Total'), el('dd', { id: 'flame-detail-total' }, formatDuration(node.total)),
        el('dt', {}, 'Mean'), el('dd', { id: 'flame-detail-mean' }, formatDuration(node.total / node.count)),
        el('dt', {}, 'Errors'), el('dd', { id: 'flame-detail-errors', class: node.errors ? 'status-error' : '' }, node.errors),
        node.polled
          ? [el('dt', {}, 'Busy'), el('dd', { id: 'flame-detail-busy' }, formatDuration(node.busy),
            ` in ${node.polled} async span${node.polled === 1 ? '' : 's'}`,
            node.polled === node.count ? ` (${formatPercent(node.total ? node.busy / node.total : 0)} of the total)` : '')]
          : null,
        el('dt', {}, 'Longest'), el('dd', {}, el('a', { href: `/trace/${node.longest.trace}`, id: 'flame-detail-longest' },
          `${formatDuration(node.longest.duration)} in trace ${node.longest.trace.slice(0, 16)}`))));
  }

  /** Every path as a row, in tree order (siblings by total time): what the narrow boxes hold, too. */
  table() {
    this.rows = this.order.map((n) => {
      const row = el('tr', { dataset: { path: n.path }, onclick: () => this.select(n) },
        el('td', { class: 'fl-path-cell', title: n.path }, n.depth ? el('span', { class: 'more' }, '› '.repeat(n.depth)) : null,
          serviceBadge(n.service), ' ', n.name),
        el('td', { class: 'num' }, n.count),
        el('td', { class: 'num' }, n.traces.size),
        el('td', { class: 'num' }, formatDuration(n.total)),
        el('td', { class: 'num' }, formatDuration(n.total / n.count)),
        el('td', { class: 'num' }, n.errors));
      row.node = n;
      return row;
    });
    return el('section', { class: 'stats' },
      el('h2', {}, 'Paths'),
      el('div', { class: 'table-scroll' },
        el('table', { class: 'data', id: 'flame-paths' },
          el('thead', {}, el('tr', {},
            el('th', {}, 'Path (service: span name)'), el('th', { class: 'num' }, 'Spans'), el('th', { class: 'num' }, 'Traces'),
            el('th', { class: 'num' }, 'Total'), el('th', { class: 'num' }, 'Mean'), el('th', { class: 'num' }, 'Errors'))),
          el('tbody', {}, this.rows))));
  }
}
