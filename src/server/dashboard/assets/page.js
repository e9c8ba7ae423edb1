/**
 * Page chrome around the views: notice banner, token form, connection indicator and server origin.
 */
import { ApiError, currentToken, saveToken } from './api.js';
import { h } from './dom.js';

const notice = /** @type {HTMLElement} */ (document.getElementById('notice'));
const tokenInput = /** @type {HTMLInputElement} */ (document.getElementById('token'));
const tokenForm = /** @type {HTMLFormElement} */ (document.getElementById('token-form'));
const connection = /** @type {HTMLElement} */ (document.getElementById('connection'));

/** @param {string} message @param {boolean} [needsToken] */
function showNotice(message, needsToken = false) {
  notice.textContent = message;
  notice.hidden = false;
  tokenForm.classList.toggle('attention', needsToken);
}

function clearNotice() {
  notice.hidden = true;
  notice.textContent = '';
  tokenForm.classList.remove('attention');
}

/**
 * Shows an API failure in `host` (and, for a missing or weak token, in the page-wide notice).
 * @param {HTMLElement} host
 * @param {unknown} error
 */
export function showError(host, error) {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && error.needsToken) {
    // The page-wide notice says what to do; repeating it in every panel would only add noise.
    showNotice(message, true);
    host.replaceChildren(h('p', { className: 'muted' }, 'Nothing to show without a valid access token.'));
    return;
  }
  host.replaceChildren(h('div', { className: 'error-box' }, message));
}

const CONNECTION = /** @type {Record<string, [string, string]>} */ ({
  connecting: ['badge badge-neutral', 'CONNECTING'],
  live: ['badge badge-ok', 'LIVE'],
  reconnecting: ['badge badge-warn', 'RECONNECTING'],
  offline: ['badge badge-error', 'OFFLINE'],
  'needs-token': ['badge badge-error', 'NEEDS TOKEN'],
});

/**
 * Shows the live stream's state in the sidebar badge.
 * @param {import('./live.js').LiveState} state
 */
export function showConnection(state) {
  const [className, text] = CONNECTION[state] ?? CONNECTION.connecting ?? ['', ''];
  connection.className = className;
  connection.textContent = text;
}

const THEME_KEY = 'agentstate.dashboard.theme';

/** Light or dark: the saved choice, else the system's preference; the button switches and saves it. */
function setUpTheme() {
  const button = /** @type {HTMLButtonElement} */ (document.getElementById('theme'));
  let saved = null;
  try {
    saved = localStorage.getItem(THEME_KEY);
  } catch {
    // Storage disabled: follow the system.
  }
  const apply = (/** @type {string} */ theme) => {
    document.documentElement.dataset.theme = theme;
    button.textContent = theme === 'light' ? 'Dark theme' : 'Light theme';
    document.dispatchEvent(new Event('themechange'));
  };
  apply(saved ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
  button.addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'light' ? 'dark' : 'light';
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch {
      // The choice then lasts until the page is reloaded.
    }
    apply(next);
  });
}

/**
 * Fills in the saved token and the server's origin, and saves a submitted token before calling
 * `onTokenSaved` (which redraws the view with it).
 * @param {() => void} onTokenSaved
 */
export function setUpPageChrome(onTokenSaved) {
  tokenInput.value = currentToken();
  tokenForm.addEventListener('submit', (event) => {
    event.preventDefault();
    saveToken(tokenInput.value.trim());
    clearNotice();
    onTokenSaved();
  });
  /** @type {HTMLElement} */ (document.getElementById('server-origin')).textContent = location.origin;
  setUpTheme();
}
