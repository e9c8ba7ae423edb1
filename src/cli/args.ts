/** Argument parsing on node:util parseArgs, with the options every client command shares. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { AgentStateClient, type AgentStateClientOptions } from '../client/index.ts';
import { errorMessage, InvalidInputError } from '../errors.ts';

/** Options of every command that talks to a server. */
export const CLIENT_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

/** Parses `argv` with the given options; unknown options are an error naming the option. */
export function parse<const O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new InvalidInputError(errorMessage(error), { argv });
  }
}

/** The server URL: --url, else $AGENTSTATE_URL, else the local default. */
export function serverUrl(url: string | undefined): string {
  return url ?? process.env.AGENTSTATE_URL ?? 'http://127.0.0.1:4747';
}

/** The bearer token: --token, else $AGENTSTATE_TOKEN. */
export function serverToken(token: string | undefined): string | undefined {
  return token ?? process.env.AGENTSTATE_TOKEN;
}

/** A client of the server that `--url` and `--token` (or the environment) name. */
export function serverClient(
  values: { url?: string | undefined; token?: string | undefined },
  options: Omit<AgentStateClientOptions, 'url' | 'token'> = {},
): AgentStateClient {
  const token = serverToken(values.token);
  return new AgentStateClient({ ...options, url: serverUrl(values.url), ...(token ? { token } : {}) });
}

/** A positive integer option. */
export function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidInputError(`--${name} must be a whole number, got '${value}'`, { option: name });
  return n;
}

/** A whole-number cap option (`--name <n>`, at least `min`), or undefined when not given. */
export function capOption(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new InvalidInputError(`--${name} must be a whole number >= ${min}, got '${value}'`, {
      option: name,
    });
  }
  return n;
}

/** The entries of `values` that are not undefined (for options objects under exactOptionalPropertyTypes). */
export function definedOnly<T extends Record<string, unknown>>(
  values: T,
): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<{
    [K in keyof T]: Exclude<T[K], undefined>;
  }>;
}
