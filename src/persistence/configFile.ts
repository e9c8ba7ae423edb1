/**
 * Reading a persistence config file: `.yaml`/`.yml` through the `yaml` package, `.json` as strict JSON.
 * Both keep a map from each field to its line, so an error names the file, the line and the field:
 * `agentstate.yaml:14: rules[2].backend: "databse" is not a declared backend`.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { InvalidInputError } from '../errors.ts';
import type { ConfigFailure } from './rules.ts';

/** A parsed config file: its data and how to report an error at a field of it. */
export interface ConfigSource {
  /** The parsed data. */
  data: unknown;
  /** Throws `INVALID_INPUT` naming the file, the line of the field (or of its nearest parent) and the field. */
  fail: ConfigFailure;
}

/** Reads and parses a `.yaml`, `.yml` or `.json` file. */
export async function readConfigFile(path: string): Promise<ConfigSource> {
  const extension = extname(path).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(extension)) {
    throw new InvalidInputError(`config file ${path}: use a .yaml, .yml or .json file`, { file: path });
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidInputError(
      `config file ${path} cannot be read: ${(error as Error).message}`,
      { file: path },
      { cause: error },
    );
  }
  return parseConfigText(text, path);
}

/** Parses config text; `file` names it in errors and picks JSON or YAML by its extension. */
export function parseConfigText(text: string, file: string): ConfigSource {
  const lineCounter = new LineCounter();
  // JSON is YAML too, so the YAML parser gives line numbers for both; a .json file must still be
  // strict JSON, which JSON.parse checks.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const syntax = doc.errors[0];
  let data: unknown;
  if (extname(file).toLowerCase() === '.json') {
    try {
      data = JSON.parse(text);
    } catch (error) {
      const line = syntax ? lineCounter.linePos(syntax.pos[0]).line : undefined;
      throw new InvalidInputError(
        `${file}${line ? `:${line}` : ''}: not valid JSON: ${(error as Error).message}`,
        { file, ...(line && { line }) },
      );
    }
  } else {
    if (syntax) {
      const { line } = lineCounter.linePos(syntax.pos[0]);
      throw new InvalidInputError(`${file}:${line}: not valid YAML: ${syntax.message.split('\n')[0]}`, {
        file,
        line,
      });
    }
    data = doc.toJS();
  }
  const lineOf = (field: string): number | undefined => {
    const offset = offsetOf(doc.contents, parseField(field));
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  return {
    data,
    fail: (field, message) => {
      const line = lineOf(field);
      throw new InvalidInputError(`${file}${line ? `:${line}` : ''}: ${field}: ${message}`, {
        file,
        field,
        ...(line !== undefined && { line }),
      });
    },
  };
}

// `rules[2].backend` -> ['rules', 2, 'backend'].
function parseField(field: string): (string | number)[] {
  const path: (string | number)[] = [];
  for (const part of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    path.push(part[2] !== undefined ? Number(part[2]) : part[1]!);
  }
  return path;
}

// Offset of the deepest node on the path: the key of a map entry (its line is the field's line), an
// item of a list, or the nearest parent that exists.
function offsetOf(root: unknown, path: (string | number)[]): number | undefined {
  let node = root as Node | null | undefined;
  let offset = node?.range?.[0];
  for (const step of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === step);
      if (!pair) return offset;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value as Node;
    } else if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step] as Node | undefined;
      if (!item) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}
