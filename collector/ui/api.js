// The collector's JSON API, and its errors as one type the pages can show;
// the read token every call sends, when the collector asks for one.

/** A failed call: `status` is 0 when the collector could not be reached. */
export class ApiError extends Error {
  constructor(message, status, parameter) {
    super(message);
    this.status = status;
    this.parameter = parameter || null;
  }
}

/** Where the read token waits: for this tab only, gone when it closes. */
const TOKEN_KEY = 'dapple.readToken';

/** The token when session storage is refused (kept until a reload). */
let memoryToken = null;

let tokenNeeded = () => {};

/** The read token this tab sends, or null. */
export function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? memoryToken;
  } catch {
    return memoryToken;
  }
}

/** Sends `token` as `Authorization: Bearer` on every call from now on. */
export function setReadToken(token) {
  memoryToken = token;
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage is off in this browser: the token lasts until a reload.
  }
}

/** A token as the collector's token files take it: letters, digits and `-._~+/=`. */
export const TOKEN_SHAPE = /^[A-Za-z0-9\-._~+/=]+$/;

/**
 * Calls `ask({ refused })` when the collector answers 401: it needs a read
 * token, and `refused` says whether the one sent was refused.
 */
export function whenTokenNeeded(ask) {
  tokenNeeded = ask;
}

async function fetchText(path) {
  const token = readToken();
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { headers });
  } catch (e) {
    throw new ApiError(
      `The collector at ${location.host} is unreachable (${e.message}). Is dapple-collector running?`,
      0,
    );
  }
  const text = await response.text();
  // An answer to a token replaced since it was sent is stale: the page is
  // being drawn again with the new one.
  if (response.status === 401 && token === readToken()) tokenNeeded({ refused: Boolean(token) });
  if (!response.ok) {
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: a proxy's page, say. The status is what there is to tell.
    }
    throw new ApiError((body && body.error) || `HTTP ${response.status}`, response.status, body && body.parameter);
  }
  return text;
}

async function getJson(path) {
  return JSON.parse(await fetchText(path));
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== '') search.append(key, v);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

// Unix-nanosecond numbers do not fit a double: read them as BigInt, from the
// digits themselves, before JSON.parse rounds them.
const NANOS_FIELD = /"(start_unix_nanos|end_unix_nanos|unix_nanos)":(\d+)/g;

/**
 * Parses a trace (the API's JSON, or a file it exported) keeping its
 * timestamps exact: every `*unix_nanos` becomes a BigInt. Throws on a shape
 * that is not a trace.
 */
export function parseTrace(text) {
  const trace = JSON.parse(text.replace(NANOS_FIELD, '"$1":"$2"'));
  if (!trace || typeof trace.trace_id !== 'string' || !Array.isArray(trace.spans)) {
    throw new Error('this is not a Dapple trace: it needs "trace_id" and "spans"');
  }
  for (const span of trace.spans) {
    if (typeof span.span_id !== 'string' || typeof span.name !== 'string') {
      throw new Error('this is not a Dapple trace: a span lacks "span_id" or "name"');
    }
    span.start_unix_nanos = BigInt(span.start_unix_nanos ?? 0);
    span.end_unix_nanos = BigInt(span.end_unix_nanos ?? span.start_unix_nanos);
    span.duration_nanos = Number(span.end_unix_nanos - span.start_unix_nanos);
    span.attributes = span.attributes || {};
    span.events = (span.events || []).map((e) => ({ ...e, unix_nanos: BigInt(e.unix_nanos ?? 0) }));
    span.links = span.links || [];
    span.status = span.status || { code: 'unset', message: '' };
    span.service = span.service || 'unknown';
  }
  return trace;
}

export const api = {
  services: () => getJson('/api/services'),
  names: (service) => getJson(`/api/services/${encodeURIComponent(service)}/names`),
  search: (params) => getJson(`/api/traces${query(params)}`),
  /** The trace as the API sent it (for export) and parsed. */
  trace: async (id) => {
    const text = await fetchText(`/api/traces/${encodeURIComponent(id)}`);
    return { text, trace: parseTrace(text) };
  },
  aggregates: (window, service) => getJson(`/api/aggregates${query({ window, service })}`),
  series: (params) => getJson(`/api/aggregates/series${query(params)}`),
  dependencies: (window) => getJson(`/api/dependencies${query({ window })}`),
};
