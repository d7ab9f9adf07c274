// The trace page: a virtualised waterfall (one row per span, indented by
// depth, collapsible, the critical path highlighted, an async span's busy
// time drawn in its bar) or a flame graph of the same spans, find in trace,
// the selected span's details, JSON export, and per-name statistics.

import { api, ApiError, parseTrace } from './api.js';
import {
  el, errorMessage, formatDuration, formatPercent, formatTime, loading, niceTicks, replace, serviceBadge, serviceColor,
} from './util.js';
import { FlameGraph, describeSpan, traceBoxes } from './flame.js';

/** Where an imported trace waits in this tab, so a reload shows it again. */
export const IMPORT_KEY = 'dapple.import';

const ROW_HEIGHT = 24;
const OVERSCAN = 15;

let imported = null;

/** Keeps an imported file for the trace page (`?source=import`). */
export function setImported(file) {
  imported = file;
  try {
    sessionStorage.setItem(IMPORT_KEY, JSON.stringify(file));
  } catch {
    // Too large for session storage: it stays in memory until a reload.
  }
}

function importedFile() {
  if (imported) return imported;
  try {
    return JSON.parse(sessionStorage.getItem(IMPORT_KEY) || 'null');
  } catch {
    return null;
  }
}

export async function tracePage(main, id) {
  const fromFile = new URLSearchParams(location.search).get('source') === 'import';
  document.title = `Trace ${id} · Dapple`;
  replace(main, loading('Loading the trace'));
  let text;
  let trace;
  let source = null;
  try {
    if (fromFile) {
      const file = importedFile();
      if (!file) {
        throw new ApiError('The imported trace is no longer here (it lives only in the tab that opened it): import the file again.', 404);
      }
      text = file.text;
      trace = parseTrace(text);
      source = file.name;
    } else {
      ({ text, trace } = await api.trace(id));
    }
  } catch (e) {
    const notFound = e.status === 404 && !fromFile
      ? el('p', {}, `No trace with id ${id} is stored here: it may have been evicted, or its spans have not arrived yet. `,
        el('a', { href: '/search' }, 'Search for traces'), '.')
      : null;
    replace(main, errorMessage(e, 'Loading the trace'), notFound);
    return;
  }
  if (trace.spans.length === 0) {
    replace(main, errorMessage(new ApiError(`Trace ${trace.trace_id} has no spans.`, 404)));
    return;
  }
  new TraceView(main, buildModel(trace), text, source);
}

/** The spans as a tree, in display order, with times relative to the trace's start. */
export function buildModel(trace) {
  const spans = trace.spans;
  let base = spans[0].start_unix_nanos;
  let last = spans[0].end_unix_nanos;
  for (const s of spans) {
    if (s.start_unix_nanos < base) base = s.start_unix_nanos;
    if (s.end_unix_nanos > last) last = s.end_unix_nanos;
  }
  const byId = new Map();
  for (const s of spans) {
    s.offset = Number(s.start_unix_nanos - base);
    s.end = s.offset + s.duration_nanos;
    s.children = [];
    s.orphan = false;
    s.error = s.status.code === 'error';
    s.poll = pollTimes(s);
    if (!byId.has(s.span_id)) byId.set(s.span_id, s);
  }
  const byStart = (a, b) => a.offset - b.offset || a.name.localeCompare(b.name);
  const roots = spans.filter((s) => !s.parent_id).sort(byStart);
  const root = roots[0] || null;
  const tops = [...roots];
  for (const s of spans) {
    if (!s.parent_id) continue;
    const parent = byId.get(s.parent_id);
    if (parent && parent !== s) {
      parent.children.push(s);
    } else {
      s.orphan = true;
    }
  }
  // Depth-first order; a span in a cycle of parents is never reached from a
  // root, so it too is shown as an orphan.
  const order = [];
  const seen = new Set();
  const walk = (tops) => {
    const stack = [...tops].sort(byStart).reverse().map((s) => [s, 0]);
    while (stack.length) {
      const [s, depth] = stack.pop();
      if (seen.has(s)) continue;
      seen.add(s);
      s.depth = depth;
      s.index = order.length;
      order.push(s);
      s.children.sort(byStart);
      for (let i = s.children.length - 1; i >= 0; i--) stack.push([s.children[i], depth + 1]);
    }
  };
  const adopt = (s) => {
    s.orphan = true;
    if (root) root.children.push(s);
    else tops.push(s);
  };
  for (const s of spans) if (s.orphan) adopt(s);
  walk(tops);
  if (seen.size < spans.length) {
    for (const s of spans) {
      if (seen.has(s)) continue;
      const parent = byId.get(s.parent_id);
      if (parent) parent.children = parent.children.filter((c) => c !== s);
      adopt(s);
    }
    order.length = 0;
    seen.clear();
    walk(tops);
  }
  // Where each subtree ends in `order`, for collapsing.
  for (let i = order.length - 1; i >= 0; i--) {
    const s = order[i];
    s.subtreeEnd = s.children.reduce((end, c) => Math.max(end, c.subtreeEnd), i + 1);
  }
  for (const s of spans) s.selfTime = selfTime(s);
  return {
    trace,
    spans,
    order,
    root,
    base,
    total: Math.max(Number(last - base), 1),
    critical: criticalPath(root),
    services: [...new Set(spans.map((s) => s.service))].sort(),
  };
}

/**
 * An async span's time inside `poll` (`busy_ns`) and waiting between polls
 * (`idle_ns`, else the rest of its duration), and its `polls`, as Dapple's
 * runtime and tracing-opentelemetry record them; null for other spans.
 * `share` is busy over the duration.
 */
export function pollTimes(span) {
  const busy = count(span.attributes.busy_ns);
  if (busy === null) return null;
  const idle = count(span.attributes.idle_ns) ?? Math.max(span.duration_nanos - busy, 0);
  const whole = span.duration_nanos || busy + idle;
  return { busy, idle, polls: count(span.attributes.polls), share: whole ? Math.min(busy / whole, 1) : 0 };
}

/** A non-negative integer attribute (a number, or digits in a string), or null. */
function count(value) {
  const n = typeof value === 'number' ? value : (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN);
  return Number.isInteger(n) && n >= 0 ? n : null;
}

/** An async span's busy and idle time in words, for tooltips. */
export function busyNote(poll) {
  const polls = poll.polls === null ? '' : ` in ${poll.polls} poll${poll.polls === 1 ? '' : 's'}`;
  return `busy ${formatDuration(poll.busy)}${polls}, idle ${formatDuration(poll.idle)} ` +
    '(totals: when each poll ran is not recorded)';
}

/** A span's name, service and attributes, lower case, for find in trace. */
function findText(span) {
  if (span.findText === undefined) {
    const text = (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
    // NUL between fields: what a user types never runs from one into the next.
    span.findText = [span.name, span.service, ...Object.entries(span.attributes).map(([k, v]) => `${k}\u0000${text(v)}`)]
      .join('\u0000').toLowerCase();
  }
  return span.findText;
}

/** Sets (or with an empty value removes) a parameter of the page's query, in place. */
function setQuery(key, value) {
  const params = new URLSearchParams(location.search);
  if (value) params.set(key, value);
  else params.delete(key);
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}`);
}

/** A span's time not covered by any of its children. */
function selfTime(span) {
  const intervals = span.children
    .map((c) => [Math.max(c.offset, span.offset), Math.min(c.end, span.end)])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let [from, to] = [null, null];
  for (const [a, b] of intervals) {
    if (to === null || a > to) {
      if (to !== null) covered += to - from;
      [from, to] = [a, b];
    } else {
      to = Math.max(to, b);
    }
  }
  if (to !== null) covered += to - from;
  return Math.max(span.duration_nanos - covered, 0);
}

/**
 * The critical path: what the trace waited on. From the root's end going
 * back, the child that ends last is on it, then the child that ends last
 * before that one started, and so on, in each chosen child in turn; a span
 * is on the path for the stretches where none of its children is. Gives
 * each span on the path its stretches, `[from, to]` in trace time.
 */
function criticalPath(root) {
  const segments = new Map();
  if (!root) return segments;
  const stack = [[root, root.end]];
  while (stack.length) {
    const [span, limit] = stack.pop();
    if (segments.has(span)) continue;
    const end = Math.min(span.end, limit);
    const own = [];
    let cursor = end;
    const byEnd = [...span.children].sort((a, b) => b.end - a.end);
    for (const child of byEnd) {
      if (child.offset >= cursor || child.end <= span.offset) continue;
      // A child still running at the cursor is on the path only as the last one.
      if (child.end > cursor && cursor !== end) continue;
      const childEnd = Math.min(child.end, cursor);
      if (cursor > childEnd) own.push([childEnd, cursor]);
      stack.push([child, childEnd]);
      cursor = Math.max(child.offset, span.offset);
    }
    if (cursor > span.offset) own.push([span.offset, cursor]);
    segments.set(span, own);
  }
  return segments;
}

/** The attribute that says, on the span that triggered it, why retroactive sampling kept the trace. */
const KEPT_BY = 'sampling.kept_by';

/** Why the trace was kept: the first span that says so, and how many more do. */
function keptBy(model) {
  const triggers = model.order.filter((s) => s.attributes && s.attributes[KEPT_BY] !== undefined);
  if (!triggers.length) return null;
  const first = triggers.sort((a, b) => a.end - b.end)[0];
  const more = triggers.length > 1 ? ` (and ${triggers.length - 1} more)` : '';
  return el('span', { id: 'kept-by', title: 'Retroactive sampling kept this trace: this span triggered it' },
    'Kept ', el('strong', {}, `${first.attributes[KEPT_BY]} in ${first.name} (${first.service})${more}`));
}

class TraceView {
  constructor(main, model, text, source) {
    this.model = model;
    this.text = text;
    this.collapsed = new Set();
    this.selected = null;
    this.visible = model.order;
    this.frame = 0;
    this.parentOf = new Map();
    for (const s of model.order) for (const c of s.children) this.parentOf.set(c, s);
    this.matches = [];
    this.matchSet = new Set();
    this.current = -1;
    this.needle = '';
    const query = new URLSearchParams(location.search);

    const { trace, spans, root, total } = model;
    const errors = spans.filter((s) => s.error).length;
    const orphans = spans.filter((s) => s.orphan).length;
    const title = root ? root.name : spans[0].name;
    document.title = `${title} · Trace ${trace.trace_id} · Dapple`;

    this.rowsBox = el('div', { class: 'wf-rows', role: 'rowgroup' });
    this.spacer = el('div', { class: 'wf-spacer' }, this.rowsBox);
    this.scroller = el('div', { class: 'wf-scroll', id: 'waterfall-scroll', tabindex: '0', onscroll: () => this.schedule() },
      this.spacer);
    this.details = el('section', { class: 'details', id: 'span-details' },
      el('p', { class: 'hint' }, 'Click a span to see its attributes, events, links and status.'));
    this.rowCount = el('span', { id: 'row-count' });
    this.waterfall = el('section', { class: 'waterfall', id: 'waterfall', role: 'table', 'aria-label': 'Spans of the trace' },
      this.axis(),
      this.scroller);
    this.flame = null;
    this.flameView = el('section', { class: 'flame-view', id: 'flame-view' });
    this.viewButtons = {
      waterfall: el('button', { type: 'button', id: 'view-waterfall', onclick: () => this.show('waterfall') }, 'Waterfall'),
      flame: el('button', { type: 'button', id: 'view-flame', onclick: () => this.show('flame') }, 'Flame graph'),
    };
    this.findInput = el('input', {
      type: 'search', id: 'find-input', placeholder: 'Find in trace', 'aria-label': 'Find spans by name, service or attribute',
      value: query.get('find') || '', oninput: () => this.find(), onchange: () => this.find(), onkeydown: (e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          this.step(e.shiftKey ? -1 : 1);
        }
      },
    });
    this.findCount = el('span', { id: 'find-count' });
    this.findPosition = el('span', { id: 'find-position' });
    this.findHidden = el('span', { id: 'find-hidden', class: 'find-hidden' });
    const polled = spans.some((s) => s.poll);

    replace(main,
      el('section', { class: 'trace-header' },
        source ? el('p', { class: 'message info', id: 'import-banner' }, `Imported from ${source}: this trace is shown from the file, not from the collector.`) : null,
        el('h1', {}, el('span', { id: 'trace-title' }, title), ' ', el('code', { class: 'trace-id', id: 'trace-id' }, trace.trace_id)),
        el('div', { class: 'summary' },
          el('span', {}, 'Start ', el('strong', {}, formatTime(model.base))),
          el('span', {}, 'Duration ', el('strong', {}, formatDuration(total))),
          el('span', {}, 'Spans ', el('strong', { id: 'span-count' }, spans.length)),
          el('span', { class: errors ? 'has-errors' : '' }, 'Errors ', el('strong', { id: 'error-count' }, errors)),
          orphans ? el('span', { class: 'has-orphans', title: 'Spans whose parent never arrived, shown under the root' }, 'Orphans ', el('strong', {}, orphans)) : null,
          keptBy(model),
          el('span', { class: 'legend' }, model.services.map(serviceBadge))),
        el('div', { class: 'toolbar' },
          el('button', { type: 'button', id: 'expand-all', onclick: () => this.setCollapsed([]) }, 'Expand all'),
          el('button', { type: 'button', id: 'collapse-all', onclick: () => this.setCollapsed(model.order.filter((s) => s.children.length && s.depth >= 1)) }, 'Collapse below root'),
          el('button', { type: 'button', id: 'export-json', onclick: () => this.export() }, 'Export JSON'),
          el('span', { class: 'key' }, el('span', { class: 'key-critical' }), 'critical path'),
          el('span', { class: 'key' }, el('span', { class: 'key-error' }), 'error'),
          polled
            ? el('span', { class: 'key', id: 'busy-key', title: 'An async span\'s bar: solid for its time inside poll, hatched for its time waiting. Only the totals are recorded, not when each poll ran, so the busy part is drawn first.' },
              el('span', { class: 'key-busy' }), 'busy (in poll)', el('span', { class: 'key-idle' }), 'idle, in total')
            : null,
          this.rowCount),
        el('div', { class: 'toolbar' },
          el('div', { class: 'view-switch', role: 'group', 'aria-label': 'View' }, this.viewButtons.waterfall, this.viewButtons.flame),
          el('div', { class: 'find', role: 'search' },
            this.findInput,
            el('button', { type: 'button', id: 'find-previous', 'aria-label': 'Previous match (Shift+Enter)', title: 'Previous match (Shift+Enter)', onclick: () => this.step(-1) }, '↑'),
            el('button', { type: 'button', id: 'find-next', 'aria-label': 'Next match (Enter)', title: 'Next match (Enter)', onclick: () => this.step(1) }, '↓'),
            el('span', { class: 'find-status', 'aria-live': 'polite' }, this.findCount, this.findPosition, this.findHidden)))),
      this.waterfall,
      this.flameView,
      this.details,
      this.statistics());
    this.refresh();
    if (this.findInput.value) this.find();
    this.show(query.get('view') === 'flame' ? 'flame' : 'waterfall');
  }

  /** Shows the waterfall or the flame graph, and says so in the URL. */
  show(view) {
    this.view = view;
    for (const [name, button] of Object.entries(this.viewButtons)) button.setAttribute('aria-pressed', String(name === view));
    this.waterfall.hidden = view !== 'waterfall';
    this.flameView.hidden = view !== 'flame';
    setQuery('view', view === 'flame' ? 'flame' : '');
    if (view === 'flame' && !this.flame) {
      // Laid out on first use only: a big trace seen as a waterfall never pays for it.
      this.flame = new FlameGraph({
        id: 'flame',
        label: 'Flame graph of the trace',
        unit: 'spans',
        describe: describeSpan,
        classesOf: (s) => this.marks(s),
        onSelect: (s) => this.select(s),
        axis: true,
      });
      this.flame.node.classList.toggle('finding', this.matchSet.size > 0 || Boolean(this.findInput.value.trim()));
      replace(this.flameView, this.flame.node);
      this.flame.show(traceBoxes(this.model), this.model.total);
    }
    if (view === 'waterfall') {
      if (this.selected) this.scrollTo(this.selected);
      this.draw();
    }
  }

  /** The find and selection classes of a span's row or box. */
  marks(span) {
    const marks = [];
    if (span === this.selected) marks.push('selected');
    if (this.matchSet.has(span)) marks.push('match');
    if (this.current >= 0 && this.matches[this.current] === span) marks.push('current-match');
    return marks;
  }

  /** Finds the spans whose name, service or an attribute's key or value holds the typed text. */
  find() {
    const text = this.findInput.value;
    const needle = text.trim().toLowerCase();
    setQuery('find', text.trim());
    // A change event after the input events of the same text changes nothing.
    if (needle === this.needle) return;
    this.needle = needle;
    this.matches = needle ? this.model.order.filter((s) => findText(s).includes(needle)) : [];
    this.matchSet = new Set(this.matches);
    this.current = -1;
    if (this.flame) this.flame.node.classList.toggle('finding', Boolean(needle));
    this.sayFound();
    this.draw();
    this.flame?.refreshClasses();
  }

  /** "N of M spans match", where the current one is, and how many are collapsed out of sight. */
  sayFound() {
    const needle = this.findInput.value.trim();
    this.findCount.textContent = needle ? `${this.matches.length} of ${this.model.spans.length} spans match` : '';
    this.findPosition.textContent = this.current >= 0 ? `${this.current + 1} / ${this.matches.length}` : '';
    const hidden = this.matches.filter((s) => s.row < 0).length;
    this.findHidden.textContent = hidden ? `${hidden} in collapsed spans` : '';
  }

  /** Goes to the next (`1`) or previous (`-1`) match: shows its row, expanding what hides it, and its details. */
  step(delta) {
    const n = this.matches.length;
    if (!n) return;
    this.current = this.current < 0 ? (delta > 0 ? 0 : n - 1) : (this.current + delta + n) % n;
    const span = this.matches[this.current];
    let changed = false;
    for (let p = this.parentOf.get(span); p; p = this.parentOf.get(p)) changed = this.collapsed.delete(p) || changed;
    if (changed) this.refresh();
    this.scrollTo(span);
    this.select(span);
    this.sayFound();
  }

  /** Scrolls the waterfall so the row of `span` is in the middle of the view. */
  scrollTo(span) {
    if (span.row < 0 || this.waterfall.hidden) return;
    const height = this.scroller.clientHeight || 600;
    this.scroller.scrollTop = Math.max(span.row * ROW_HEIGHT - (height - ROW_HEIGHT) / 2, 0);
  }

  axis() {
    const ticks = niceTicks(this.model.total, 5).filter((t) => t <= this.model.total);
    return el('div', { class: 'wf-axis', role: 'row' },
      el('div', { class: 'wf-label' }, 'Span'),
      el('div', { class: 'wf-bar-area' },
        ticks.map((t) => el('span', { class: 'tick', style: { left: `${(t / this.model.total) * 100}%` } }, formatDuration(t)))));
  }

  setCollapsed(spans) {
    this.collapsed = new Set(spans);
    this.refresh();
  }

  toggle(span) {
    if (this.collapsed.has(span)) this.collapsed.delete(span);
    else this.collapsed.add(span);
    this.refresh();
  }

  /** Recomputes the visible rows after a collapse, then draws. */
  refresh() {
    const { order } = this.model;
    if (this.collapsed.size === 0) {
      this.visible = order;
    } else {
      this.visible = [];
      for (let i = 0; i < order.length;) {
        const s = order[i];
        this.visible.push(s);
        i = this.collapsed.has(s) ? s.subtreeEnd : i + 1;
      }
    }
    for (const s of order) s.row = -1;
    this.visible.forEach((s, i) => { s.row = i; });
    this.spacer.style.height = `${this.visible.length * ROW_HEIGHT}px`;
    const hidden = this.model.spans.length - this.visible.length;
    this.rowCount.textContent = hidden ? `${this.visible.length} rows shown, ${hidden} hidden` : `${this.visible.length} rows`;
    if (this.matches.length) this.sayFound();
    this.draw();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draws only the rows in view (and a few around them). */
  draw() {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.visible.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i++) rows.push(this.row(this.visible[i], i));
    replace(this.rowsBox, rows);
  }

  row(span, position) {
    const { total, critical } = this.model;
    const hasChildren = span.children.length > 0;
    const collapsed = this.collapsed.has(span);
    const left = (span.offset / total) * 100;
    const width = Math.max((span.duration_nanos / total) * 100, 0.2);
    const classes = ['wf-row'];
    if (span.error) classes.push('error');
    if (span.orphan) classes.push('orphan');
    if (critical.has(span)) classes.push('critical');
    classes.push(...this.marks(span));
    const hidden = collapsed ? span.subtreeEnd - span.index - 1 : 0;
    return el('div', {
      class: classes.join(' '),
      role: 'row',
      style: { top: `${position * ROW_HEIGHT}px` },
      dataset: { spanId: span.span_id, depth: String(span.depth), name: span.name, service: span.service },
      onclick: () => this.select(span),
    },
    el('div', { class: 'wf-label', style: { 'padding-left': `${0.25 + span.depth * 0.9}rem` }, title: `${span.service}: ${span.name}` },
      hasChildren
        ? el('button', {
          type: 'button',
          class: 'wf-toggle',
          'aria-expanded': String(!collapsed),
          'aria-label': collapsed ? `Expand ${span.name}` : `Collapse ${span.name}`,
          onclick: (e) => {
            e.stopPropagation();
            this.toggle(span);
          },
        }, collapsed ? '▸' : '▾')
        : el('span', { class: 'wf-toggle-space' }),
      el('span', { class: 'swatch', style: { background: serviceColor(span.service) } }),
      el('span', { class: 'wf-name' }, span.name),
      span.error ? el('span', { class: 'error-mark', title: span.status.message || 'error' }, '!') : null,
      span.orphan ? el('span', { class: 'orphan-mark', title: `parent ${span.parent_id || '?'} never arrived` }, 'orphan') : null,
      hidden ? el('span', { class: 'hidden-count' }, `+${hidden}`) : null),
    el('div', { class: 'wf-bar-area' },
      span.poll
        // Busy first, idle after: only the totals are known, not when each poll ran.
        ? el('div', {
          class: 'wf-bar has-busy',
          title: busyNote(span.poll),
          style: { left: `${left}%`, width: `${width}%`, 'background-color': serviceColor(span.service) },
        }, el('div', { class: 'wf-busy', style: { width: `${span.poll.share * 100}%`, 'background-color': serviceColor(span.service) } }))
        : el('div', {
          class: 'wf-bar',
          style: { left: `${left}%`, width: `${width}%`, background: serviceColor(span.service) },
        }),
      (critical.get(span) || []).map(([from, to]) => el('div', {
        class: 'wf-critical',
        style: { left: `${(from / total) * 100}%`, width: `${Math.max(((to - from) / total) * 100, 0.1)}%` },
      })),
      el('span', { class: 'wf-duration', style: durationLabelPlace(left, width) }, formatDuration(span.duration_nanos))));
  }

  select(span) {
    this.selected = span;
    this.draw();
    this.flame?.refreshClasses();
    const poll = span.poll;
    const base = this.model.base;
    const relative = (nanos) => `+${formatDuration(Number(nanos - base))}`;
    const attributes = Object.entries(span.attributes);
    const parent = span.parent_id
      ? (span.orphan ? `${span.parent_id} (never arrived: shown under the root)` : span.parent_id)
      : 'none (root)';
    replace(this.details,
      el('h2', {}, serviceBadge(span.service), ' ', el('span', { id: 'detail-name' }, span.name)),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Status'), el('dd', { id: 'detail-status', class: span.error ? 'status-error' : '' },
          span.status.code + (span.status.message ? `: ${span.status.message}` : '')),
        el('dt', {}, 'Duration'), el('dd', {}, formatDuration(span.duration_nanos), ` (self ${formatDuration(span.selfTime)})`),
        poll
          ? [
            el('dt', { title: 'Time inside poll, in total' }, 'Busy'),
            el('dd', { class: 'poll-time' }, el('strong', { id: 'detail-busy' }, formatDuration(poll.busy)), ` (${formatPercent(poll.share)} of the span)`),
            el('dt', { title: 'Time waiting between polls, in total' }, 'Idle'),
            el('dd', { class: 'poll-time' }, el('strong', { id: 'detail-idle' }, formatDuration(poll.idle)),
              span.attributes.idle_ns === undefined ? ' (the duration less the busy time)' : ''),
            poll.polls === null ? null : [el('dt', {}, 'Polls'), el('dd', { class: 'poll-time' }, el('strong', { id: 'detail-polls' }, poll.polls))],
            el('dd', { class: 'hint poll-note' }, 'Totals over the span\'s polls: when each poll ran is not recorded.'),
          ]
          : null,
        el('dt', {}, 'Start'), el('dd', {}, relative(span.start_unix_nanos), ' from the trace start'),
        el('dt', {}, 'Kind'), el('dd', {}, span.kind || 'internal'),
        el('dt', {}, 'Span id'), el('dd', {}, el('code', {}, span.span_id)),
        el('dt', {}, 'Parent'), el('dd', {}, el('code', {}, parent)),
        span.trace_state ? [el('dt', {}, 'Trace state'), el('dd', {}, el('code', {}, span.trace_state))] : null,
        this.model.critical.has(span)
          ? [el('dt', {}, 'Critical path'), el('dd', {}, formatDuration(
            this.model.critical.get(span).reduce((sum, [from, to]) => sum + to - from, 0)), ' of this span')]
          : null),
      el('h3', {}, `Attributes (${attributes.length})`),
      attributes.length
        ? kvTable(span.attributes, '', 'detail-attributes')
        : el('p', { class: 'hint' }, 'No attributes.'),
      droppedNote(span.dropped && span.dropped.attributes, 'attributes'),
      el('h3', {}, `Events (${span.events.length})`),
      span.events.length
        ? el('table', { class: 'kv', id: 'detail-events' },
          el('thead', {}, el('tr', {}, el('th', {}, 'Time'), el('th', {}, 'Event'), el('th', {}, 'Attributes'))),
          el('tbody', {}, span.events.map((e) => el('tr', {},
            el('td', { class: 'num' }, relative(e.unix_nanos)),
            el('td', {}, e.name),
            el('td', {}, Object.entries(e.attributes || {}).map(([k, v]) => el('div', {}, el('code', {}, k), ' = ', formatValue(v))))))))
        : el('p', { class: 'hint' }, 'No events.'),
      droppedNote(span.dropped && span.dropped.events, 'events'),
      el('h3', {}, `Links (${span.links.length})`),
      span.links.length
        ? el('ul', { id: 'detail-links' }, span.links.map((l) => el('li', {},
          el('a', { href: `/trace/${l.trace_id}` }, `trace ${l.trace_id}`), ', span ', el('code', {}, l.span_id),
          l.trace_state ? [' (tracestate ', el('code', {}, l.trace_state), ')'] : null,
          Object.keys(l.attributes || {}).length ? kvTable(l.attributes) : null)))
        : el('p', { class: 'hint' }, 'No links.'),
      droppedNote(span.dropped && span.dropped.links, 'links'),
      span.resource
        ? [el('h3', {}, 'Process'), kvTable(span.resource.attributes, '', 'detail-resource'),
          droppedNote(span.resource.dropped_attributes, 'process attributes')]
        : null,
      span.scope
        ? [el('h3', {}, 'Instrumentation'),
          el('p', { id: 'detail-scope' }, el('code', {}, span.scope.name), span.scope.version ? ` ${span.scope.version}` : ''),
          Object.keys(span.scope.attributes).length ? kvTable(span.scope.attributes) : null]
        : null);
  }

  export() {
    const blob = new Blob([this.text], { type: 'application/json' });
    const link = el('a', { href: URL.createObjectURL(blob), download: `trace-${this.model.trace.trace_id}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  statistics() {
    const groups = new Map();
    for (const s of this.model.spans) {
      const key = `${s.service}\u0000${s.name}`;
      const g = groups.get(key) || { service: s.service, name: s.name, count: 0, total: 0, self: 0, errors: 0 };
      g.count += 1;
      g.total += s.duration_nanos;
      g.self += s.selfTime;
      g.errors += s.error ? 1 : 0;
      groups.set(key, g);
    }
    const rows = [...groups.values()].sort((a, b) => b.self - a.self || a.name.localeCompare(b.name));
    return el('section', { class: 'stats' },
      el('h2', {}, 'Statistics'),
      el('div', { class: 'table-scroll' },
        el('table', { class: 'data', id: 'trace-stats' },
          el('thead', {}, el('tr', {},
            el('th', {}, 'Span name'), el('th', {}, 'Service'), el('th', { class: 'num' }, 'Count'),
            el('th', { class: 'num' }, 'Errors'), el('th', { class: 'num' }, 'Total'), el('th', { class: 'num' }, 'Self time'),
            el('th', { class: 'num' }, 'Self %'))),
          el('tbody', {}, rows.map((g) => el('tr', { dataset: { name: g.name } },
            el('td', {}, g.name), el('td', {}, serviceBadge(g.service)), el('td', { class: 'num' }, g.count),
            el('td', { class: 'num' }, g.errors), el('td', { class: 'num' }, formatDuration(g.total)),
            el('td', { class: 'num' }, formatDuration(g.self)),
            el('td', { class: 'num' }, `${((g.self / this.model.total) * 100).toFixed(1)}%`)))))));
  }
}

/** Right of the bar; left of it, or inside a long bar, when the bar reaches the right edge. */
function durationLabelPlace(left, width) {
  if (left + width < 85) return { left: `${left + width}%` };
  if (left > 15) return { right: `${100 - left}%` };
  return { right: `${Math.max(100 - left - width, 0)}%`, color: '#fff' };
}

/** An attribute value: arrays as numbered lists, maps as nested tables, the rest as text. */
function formatValue(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return el('ol', { class: 'value-array' }, v.map((item) => el('li', {}, formatValue(item))));
  if (typeof v === 'object') return kvTable(v, 'value-map');
  return String(v);
}

/** Attributes as a two-column table. */
function kvTable(attributes, cls, id) {
  return el('table', { class: `kv ${cls || ''}`, id },
    el('tbody', {}, Object.entries(attributes).map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, formatValue(v))))));
}

/** Counts of what the sender dropped, when it dropped anything. */
function droppedNote(count, what) {
  return count ? el('p', { class: 'hint' }, `The sender dropped ${count} ${what}.`) : null;
}
