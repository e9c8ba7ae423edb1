/**
 * Requests exactly as Agent Lightning's `LightningStoreClient` sends them through aiohttp 3.x (headers
 * captured from aiohttp 3.14 on Python 3.11): the default headers in aiohttp's order, `json=` bodies as
 * Python's `json.dumps` writes them, and `post(url)` / `post(url, json=None)` as an empty
 * `application/octet-stream` body with `Content-Length: 0`. Sent over a real socket with node:http.
 */
import { request } from 'node:http';

/** What the server answered. */
export interface AiohttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (null for an empty one). */
  json: unknown;
}

/** `json.dumps(value)` with Python's default separators (`", "` and `": "`). */
export function pythonJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJsonDumps(v)}`);
    return `{${entries.join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** One aiohttp call: `session.get(url, params=...)`, `session.post(url)`, `session.post(url, json=...)`. */
export async function aiohttp(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  options: { json?: unknown; params?: Array<[string, string | number]> } = {},
): Promise<AiohttpResponse> {
  const url = new URL(path, base);
  for (const [key, value] of options.params ?? []) url.searchParams.append(key, String(value));
  const headers: Record<string, string> = {
    Host: url.host,
    Accept: '*/*',
    'Accept-Encoding': 'gzip, deflate',
    'User-Agent': 'Python/3.11 aiohttp/3.14.3',
  };
  let body = '';
  if (method === 'POST') {
    // json=None is no body at all: aiohttp then sends an empty octet-stream.
    if (options.json === undefined || options.json === null) {
      headers['Content-Length'] = '0';
      headers['Content-Type'] = 'application/octet-stream';
    } else {
      body = pythonJsonDumps(options.json);
      headers['Content-Length'] = String(Buffer.byteLength(body));
      headers['Content-Type'] = 'application/json';
    }
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          json: text === '' ? null : JSON.parse(text),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
