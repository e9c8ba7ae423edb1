import { createHash } from 'node:crypto';
import type { QueryConfig } from 'pg';

/**
 * Turns a fixed statement into a named prepared statement: each connection parses and plans it once, not
 * on every call. Names come from the texts, of which a store has a fixed, small set.
 */
export function statementNamer(): (text: string, values: unknown[]) => QueryConfig {
  const names = new Map<string, string>();
  return (text, values) => {
    let name = names.get(text);
    if (name === undefined) {
      name = `agentstate_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      names.set(text, name);
    }
    return { name, text, values };
  };
}
