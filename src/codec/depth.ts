/**
 * The nesting limit of values: the codec refuses to encode a value nested deeper, and the server refuses a
 * request body nested deeper, both naming the path. Encoding, JSON.stringify and validation recurse, so a
 * value deep enough to overflow the stack was stored by one request and then failed every read of it;
 * with the limit checked on write, every stored value can be read back.
 */
import { UnsupportedValueError } from '../errors.ts';
import { indexPath, propertyPath } from './path.ts';

/** Deepest nesting of arrays and objects a value may have (the outermost container is depth 1). */
export const MAX_DEPTH = 512;

/** The error for a value nested deeper than `max` at `path`. */
export function tooDeepError(path: string, max: number = MAX_DEPTH): UnsupportedValueError {
  return new UnsupportedValueError(
    `value is nested deeper than ${max} levels at ${path}; flatten it or store the inner part separately`,
    { path, maxDepth: max },
  );
}

/**
 * Whether `value` (plain JSON data) nests arrays and objects deeper than `max`. Iterative (an explicit
 * stack), so it never overflows whatever the depth; it looks only at own enumerable keys, as JSON does.
 */
export function exceedsDepth(value: unknown, max: number = MAX_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop() as Record<string, unknown>;
    const depth = depths.pop() as number;
    if (depth > max) return true;
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const child: unknown = current[i];
        if (child !== null && typeof child === 'object') {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in current) {
        const child = current[key];
        if (child !== null && typeof child === 'object' && Object.hasOwn(current, key)) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}

/**
 * Whether the JSON text of a value can nest deeper than `max` (a necessary condition, never a false "no"):
 * each container on the way down opens with a bracket, so a text of at most `max` brackets (or of at most
 * 2 * max characters) cannot. The brackets are found with indexOf (native, far cheaper than walking the
 * value); only a text with more of them needs the walk (`exceedsDepth`). Made for the places that build or
 * receive the text anyway: a stored span, a request body.
 */
export function textMayExceedDepth(text: string, max: number = MAX_DEPTH): boolean {
  if (text.length <= 2 * max) return false;
  let brackets = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++brackets > max) return true;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++brackets > max) return true;
  return false;
}

/** Path (from `root`) of the first container nested deeper than `max`; undefined when none is. Iterative. */
export function tooDeepPath(value: unknown, max: number = MAX_DEPTH, root = '$'): string | undefined {
  if (!exceedsDepth(value, max)) return undefined;
  // Only on the error path: walk again, this time carrying paths, down the first branch that is too deep.
  const stack: Array<[unknown, string, number]> = [[value, root, 1]];
  while (stack.length > 0) {
    const [current, path, depth] = stack.pop() as [unknown, string, number];
    if (current === null || typeof current !== 'object') continue;
    if (depth > max) return path;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push([current[i], indexPath(path, i), depth + 1]);
    } else {
      for (const key of Object.keys(current).reverse()) {
        stack.push([(current as Record<string, unknown>)[key], propertyPath(path, key), depth + 1]);
      }
    }
  }
  return root;
}

/** Throws INVALID_INPUT naming the path when `value` nests deeper than `max`. */
export function assertDepth(value: unknown, root = '$', max: number = MAX_DEPTH): void {
  const path = tooDeepPath(value, max, root);
  if (path !== undefined) throw tooDeepError(path, max);
}
