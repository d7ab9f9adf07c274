// The entry point: picks the page from the URL's path and draws it, and
// opens a trace file chosen with "Import trace".

import { parseTrace } from './api.js';
import { errorMessage, replace } from './util.js';
import { searchPage } from './search.js';
import { tracePage, setImported } from './trace.js';
import { dashboardPage } from './dashboard.js';
import { graphPage } from './graph.js';

const main = document.getElementById('main');

function route() {
  const path = location.pathname;
  const trace = path.match(/^\/trace\/([^/]+)$/);
  let page = 'search';
  if (trace) page = 'trace';
  else if (path === '/dashboard') page = 'dashboard';
  else if (path === '/graph') page = 'graph';
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
    replace(main, errorMessage(new Error(`${file.name}: ${e.message}`), 'Import'));
  }
});

window.addEventListener('popstate', route);
route();
