/** JSONPath-like locations (`$.agents[3].memory`) used in error messages. */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Appends an object property to a path: `.name` for identifiers, `["odd key"]` otherwise. */
export function propertyPath(parent: string, key: string): string {
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

/** Appends an array index to a path: `[3]`. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}
