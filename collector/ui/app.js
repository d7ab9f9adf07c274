// The entry point: picks the page from the URL's path and draws it, opens a
// trace file chosen with "Import trace", and asks for a read token when the
// collector wants one.

import {
  TOKEN_SHAPE, parseTrace, setReadToken, whenTokenNeeded,
} from './api.js';
import { el, errorMessage, replace } from './util.js';
import { searchPage } from './search.js';
import { tracePage, setImported } from './trace.js';
import { dashboardPage } from './dashboard.js';
import { graphPage } from './graph.js';
import { flamePage } from './flame.js';
import { comparePage } from './compare.js';

// What the page's Content-Security-Policy blocked, for the browser tests
// (and a look from the console): the UI is written to need no exception.
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});

const main = document.getElementById('main');

/** The read token form, while it stands in for the page. */
let tokenForm = null;

/** Takes the read token form away, if it is up, and shows the page. */
function showPage() {
  tokenForm?.remove();
  tokenForm = null;
  main.hidden = false;
}

function route() {
  showPage();
  const path = location.pathname;
  const trace = path.match(/^\/trace\/([^/]+)$/);
  let page = 'search';
  if (trace) page = 'trace';
  else if (path === '/dashboard') page = 'dashboard';
  else if (path === '/graph') page = 'graph';
  else if (path === '/flame') page = 'flame';
  else if (path === '/compare') page = 'compare';
  for (const link of document.querySelectorAll('.topbar nav a')) {
    link.classList.toggle('active', link.dataset.page === page);
  }
  document.body.dataset.page = page;
  switch (page) {
    case 'trace':
      return tracePage(main, decodeURIComponent(trace[1]));
    case 'dashboard':
      return dashboardPage(main);
    case 'graph':
      return graphPage(main);
    case 'flame':
      return flamePage(main);
    case 'compare':
      return comparePage(main);
    default:
      return searchPage(main);
  }
}

document.getElementById('import-file').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  event.target.value = '';
  if (!file) return;
  try {
    const text = await file.text();
    const trace = parseTrace(text);
    setImported({ name: file.name, text });
    history.pushState(null, '', `/trace/${encodeURIComponent(trace.trace_id)}?source=import`);
    route();
  } catch (e) {
    showPage();
    replace(main, errorMessage(new Error(`${file.name}: ${e.message}`), 'Import'));
  }
});

/**
 * Hides the page behind a form for the read token; the token goes with every
 * call from then on, and the page is drawn again. The calls a page makes at
 * once all get a 401: the first one brings the form.
 */
function askForToken({ refused }) {
  if (tokenForm) return;
  const input = el('input', {
    type: 'password', id: 'read-token', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true,
  });
  const message = el('div', { id: 'token-message', role: 'alert' });
  const form = el('form', {
    class: 'message token-form',
    id: 'token-form',
    onsubmit: (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!TOKEN_SHAPE.test(token)) {
        say('Not a token', 'A read token is letters, digits and -._~+/=, without spaces.');
        return;
      }
      setReadToken(token);
      route();
    },
  },
  message,
  el('label', {}, 'Read token', input),
  el('button', { type: 'submit', class: 'primary', id: 'token-submit' }, 'Show traces'),
  el('p', { class: 'hint' }, 'Kept for this tab only, until it closes.'));
  const say = (title, text, problem = true) => {
    form.classList.toggle('error', problem);
    replace(message, el('strong', {}, title), el('p', {}, text));
  };
  if (refused) say('Token refused', 'The collector refused the read token this tab sent: check it and enter it again.');
  else say('Read token needed', 'This collector shows its traces only to holders of a read token.', false);
  tokenForm = form;
  main.hidden = true;
  main.before(form);
  input.focus();
}

whenTokenNeeded(askForToken);
window.addEventListener('popstate', route);
route();
