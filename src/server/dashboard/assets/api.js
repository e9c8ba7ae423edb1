/**
 * API access: GETs (and the one POST of the Backups page, which starts a consistency check), bearer token
 * from localStorage on every call, and the health check behind the connection indicator.
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
  /** @param {string} message @param {boolean} needsToken @param {number} [status] */
  constructor(message, needsToken, status = 0) {
    super(message);
    this.needsToken = needsToken;
    this.status = status;
  }
}

/**
 * GETs a JSON document from the API.
 * @param {string} path
 * @param {Record<string, unknown>} [params]
 * @returns {Promise<any>}
 */
export function api(path, params = {}) {
  return call(`${path}${buildQuery(params)}`, 'GET');
}

/**
 * POSTs to the API (no body) and returns the JSON answer.
 * @param {string} path
 * @returns {Promise<any>}
 */
export function apiPost(path) {
  return call(path, 'POST');
}

/** @param {string} url @param {'GET' | 'POST'} method */
async function call(url, method) {
  let response;
  try {
    response = await fetch(url, { method, headers: requestHeaders(), cache: 'no-store' });
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
    throw new ApiError(message, needsToken, response.status);
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
