/**
 * WHERE clauses of the paged queries, built once for both SQL backends. The conditions are the same; what
 * differs is spelled by a small `FilterDialect`: how a parameter is written (SQLite `?`, PostgreSQL `$n`),
 * how a column is tested against a list, and how a substring is searched for.
 */
import type { ResourcesFilter, RolloutFilter, SpanFilter, WorkerFilter } from '../engine/repository.ts';
import type { FilterLogic } from '../types.ts';

/** A condition and its parameters, in the order their placeholders appear; `where` is '' for no condition. */
export interface Sql {
  /** The condition text (no `WHERE`). */
  where: string;
  /** The parameter values. */
  params: unknown[];
}

/** How one SQL dialect writes the conditions that differ between engines. */
export interface FilterDialect {
  /** A fresh placeholder sequence for one statement: each call gives the next parameter's placeholder. */
  placeholders(): () => string;
  /** "`column` is one of `values`", `p` being the placeholder of the one parameter it may use. */
  oneOf(column: string, p: string, values: readonly string[]): Sql;
  /** "`column` contains the parameter `p` as a substring" (a plain search, no LIKE wildcards). */
  contains(column: string, p: string): string;
}

// Joins conditions with AND or OR, in parentheses; no conditions make an empty `Sql`.
function combineSql(parts: readonly Sql[], logic: FilterLogic): Sql {
  if (parts.length === 0) return { where: '', params: [] };
  return {
    where: `(${parts.map((p) => p.where).join(logic === 'and' ? ' AND ' : ' OR ')})`,
    params: parts.flatMap((p) => p.params),
  };
}

// Collects conditions of one statement; placeholders are taken in the order conditions are added, which is
// also the order their parameters end up in, so `$n` numbering always matches.
function conditions(dialect: FilterDialect) {
  const next = dialect.placeholders();
  const parts: Sql[] = [];
  return {
    parts,
    exact(column: string, value: string | null): void {
      if (value !== null) parts.push({ where: `${column} = ${next()}`, params: [value] });
    },
    contains(column: string, value: string | null): void {
      if (value !== null) parts.push({ where: dialect.contains(column, next()), params: [value] });
    },
    oneOf(column: string, values: readonly string[] | null): void {
      if (values !== null) parts.push(dialect.oneOf(column, next(), values));
    },
  };
}

/** The condition of a rollout query. */
export function rolloutWhere(filter: RolloutFilter, dialect: FilterDialect): Sql {
  const c = conditions(dialect);
  c.oneOf('status', filter.statusIn);
  c.oneOf('rollout_id', filter.rolloutIdIn);
  c.contains('rollout_id', filter.rolloutIdContains);
  return combineSql(c.parts, filter.logic);
}

/** The condition of an attempt query: the attempts of one rollout. */
export function attemptWhere(rolloutId: string, dialect: FilterDialect): Sql {
  const c = conditions(dialect);
  c.exact('rollout_id', rolloutId);
  return c.parts[0]!;
}

/** The condition of a span query: the rollout (and attempt) always, the filter's fields with its logic. */
export function spanWhere(
  rolloutId: string,
  attemptId: string | null,
  filter: SpanFilter,
  dialect: FilterDialect,
): Sql {
  const c = conditions(dialect);
  c.exact('rollout_id', rolloutId);
  c.exact('attempt_id', attemptId);
  // The rollout and attempt conditions always hold; only the filter's own conditions follow its logic.
  const must = c.parts.splice(0);
  c.exact('trace_id', filter.traceId);
  c.contains('trace_id', filter.traceIdContains);
  c.exact('span_id', filter.spanId);
  c.contains('span_id', filter.spanIdContains);
  c.exact('parent_id', filter.parentId);
  c.contains('parent_id', filter.parentIdContains);
  c.exact('name', filter.name);
  c.contains('name', filter.nameContains);
  const optional = combineSql(c.parts, filter.logic);
  if (optional.where !== '') must.push(optional);
  return combineSql(must, 'and');
}

/** The condition of a resources query (its fields always combine with AND). */
export function resourcesWhere(filter: ResourcesFilter, dialect: FilterDialect): Sql {
  const c = conditions(dialect);
  c.exact('resources_id', filter.resourcesId);
  c.contains('resources_id', filter.resourcesIdContains);
  return combineSql(c.parts, 'and');
}

/** The condition of a worker query. */
export function workerWhere(filter: WorkerFilter, dialect: FilterDialect): Sql {
  const c = conditions(dialect);
  c.oneOf('status', filter.statusIn);
  c.contains('worker_id', filter.workerIdContains);
  return combineSql(c.parts, filter.logic);
}
