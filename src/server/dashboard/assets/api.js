/**
 * API access: GET only, bearer token from localStorage on every call, and the health check behind the
 * connection indicator.
 */
import { buildQuery, describeApiError } from './format.js';

const TOKEN_KEY = 'agentstate.dashboard.token';
const HEALTH_TIMEOUT_MS = 3000;

function readToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return ''; // Storage disabled by the browser: the dashboard still works against an open server.
  }
}

/** @param {string} token */
function writeToken(token) {
  try {
    if (token === '') localStorage.removeItem(TOKEN_KEY);
    else localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Nothing to do: the token then lasts until the page is reloaded.
  }
}

let sessionToken = readToken();

/** The token the API calls carry (`''`: none). */
export const currentToken = () => sessionToken;

/**
 * Uses `token` from now on and keeps it for the next visits (`''` forgets it).
 * @param {string} token
 */
export function saveToken(token) {
  sessionToken = token;
  writeToken(sessionToken);
}

function requestHeaders() {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (sessionToken !== '') headers.authorization = `Bearer ${sessionToken}`;
  return headers;
}

export class ApiError extends Error {
  /** @param {string} message @param {boolean} needsToken */
  constructor(message, needsToken) {
    super(message);
    this.needsToken = needsToken;
  }
}

/**
 * GETs a JSON document from the API.
 * @param {string} path
 * @param {Record<string, unknown>} [params]
 * @returns {Promise<any>}
 */
export async function api(path, params = {}) {
  let response;
  try {
    response = await fetch(`${path}${buildQuery(params)}`, { headers: requestHeaders(), cache: 'no-store' });
  } catch {
    throw new ApiError('The server cannot be reached.', false);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (!response.ok) {
    const { message, needsToken } = describeApiError(response.status, body);
    throw new ApiError(message, needsToken);
  }
  return body;
}

/**
 * Whether the server answers its health route in time.
 * @returns {Promise<boolean>}
 */
export async function checkHealth() {
  try {
    const response = await fetch('/v1/agl/health', {
      headers: requestHeaders(),
      cache: 'no-store',
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
    return response.ok;
  } catch {
    return false;
  }
}
