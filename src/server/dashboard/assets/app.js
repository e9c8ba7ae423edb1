/**
 * The agentstate dashboard: rollouts, traces, resources and runners of the server's rollout store, read
 * through the Agent Lightning routes (`/v1/agl/...`, GET only, so a read-scoped token is enough).
 *
 * Everything the server returns is untrusted (rollout inputs and span attributes come from agents), so it
 * only ever reaches the page as text nodes, `textContent` or `value`: no HTML parsing, no markup built from
 * strings. The page's Content-Security-Policy forbids inline scripts as a second line of defence.
 *
 * This module starts the page and draws the view the address names; the views live in `view-*.js`.
 */
import { checkHealth } from './api.js';
import { parseRoute } from './format.js';
import { setUpPageChrome, showConnection } from './page.js';
import { resourcesView } from './view-resources.js';
import { rolloutView } from './view-rollout.js';
import { rolloutsView } from './view-rollouts.js';
import { runnersView } from './view-runners.js';
import { nextTicket } from './view-state.js';
import { tracesView } from './view-traces.js';

const HEALTH_INTERVAL_MS = 5000;

const viewRoot = /** @type {HTMLElement} */ (document.getElementById('view'));

const VIEWS = {
  rollouts: rolloutsView,
  rollout: rolloutView,
  traces: tracesView,
  resources: resourcesView,
  runners: runnersView,
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

const updateConnection = async () => showConnection(await checkHealth());

setUpPageChrome(render);
window.addEventListener('hashchange', render);
render();
void updateConnection();
setInterval(() => void updateConnection(), HEALTH_INTERVAL_MS);
