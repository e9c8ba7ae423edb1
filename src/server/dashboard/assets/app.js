/**
 * The agentstate dashboard: charts, rollouts, traces, resources and runners of the rollout store (through
 * the Agent Lightning routes), sessions, agents, threads, documents, TTL signals and locks (GET only, so a
 * read-scoped token is enough), and backups and consistency reports (admin scope); `/v1/events` keeps every
 * view up to date (live.js).
 *
 * Everything the server returns is untrusted (rollout inputs and span attributes come from agents), so it
 * only ever reaches the page as text nodes, `textContent` or `value`: no HTML parsing, no markup built from
 * strings. The page's Content-Security-Policy forbids inline scripts as a second line of defence.
 *
 * This module starts the page and draws the view the address names; the views live in `view-*.js`.
 */
import { tickCountdowns } from './dom.js';
import { parseRoute } from './format.js';
import { startLive } from './live.js';
import { setUpPageChrome, showConnection } from './page.js';
import { agentsView } from './view-agents.js';
import { documentsView } from './view-documents.js';
import { operationsView } from './view-operations.js';
import { overviewView } from './view-overview.js';
import { resourcesView } from './view-resources.js';
import { rolloutView } from './view-rollout.js';
import { rolloutsView } from './view-rollouts.js';
import { runnersView } from './view-runners.js';
import { sessionsView } from './view-sessions.js';
import { nextTicket } from './view-state.js';
import { threadsView } from './view-threads.js';
import { tracesView } from './view-traces.js';
import { ttlView } from './view-ttl.js';

const viewRoot = /** @type {HTMLElement} */ (document.getElementById('view'));

const VIEWS = {
  rollouts: rolloutsView,
  rollout: rolloutView,
  traces: tracesView,
  resources: resourcesView,
  runners: runnersView,
  overview: overviewView,
  sessions: sessionsView,
  agents: agentsView,
  threads: threadsView,
  documents: documentsView,
  ttl: ttlView,
  operations: operationsView,
};

function render() {
  // Each view renders into a fresh container; the ticket keeps a slow answer of the view the user left
  // from overwriting the one now shown.
  const ticket = nextTicket();
  const route = parseRoute(location.hash);
  const section = route.view === 'rollout' ? 'rollouts' : route.view;
  for (const a of document.querySelectorAll('.nav-link')) {
    a.classList.toggle('active', a.getAttribute('data-view') === section);
  }
  viewRoot.replaceChildren(...VIEWS[route.view](route.params, ticket));
}

setUpPageChrome(() => {
  // A new token: reconnect the stream with it and redraw the view.
  startLive(showConnection);
  render();
});
window.addEventListener('hashchange', render);
startLive(showConnection);
render();
setInterval(tickCountdowns, 1000);
