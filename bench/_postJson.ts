/** The JSON POST of the HTTP benchmarks, as clients send it (undici, keep-alive pool). */
import type { Pool } from 'undici';

/** POSTs `body` as JSON on `pool` with `headers` added; the parsed answer (null when empty), or throws. */
export async function postJson(
  pool: Pool,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  const response = await pool.request({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${path}: HTTP ${response.statusCode} ${text}`);
  return text === '' ? null : JSON.parse(text);
}
