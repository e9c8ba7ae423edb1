/**
 * `ConsistencyChecker` (the seed's `StateConsistencyChecker`, whose relationship and validity checks are
 * `pass`): every check here is real. Documents are scanned once, a page at a time; rollout tables are
 * checked with bounded SQL queries. `repair()` fixes only what cannot lose data (sweep expired documents,
 * drop dangling queue entries, raise span counters, re-derive a rollout's status from its latest attempt
 * with the store's own rules) and lists every change.
 */
import { type Codec, codec as defaultCodec, type EncryptionKeys } from '../../codec/index.ts';
import type { DocumentStore } from '../../drivers/index.ts';
import { InvalidInputError } from '../../errors.ts';
import type { ModuleTypeRegistry } from '../../modules/index.ts';
import { type RolloutStore, rolloutStatusFromAttempt } from '../../rollouts/index.ts';
import type { SqlRunner } from '../sql.ts';
import { checkDocument, type RawDocument, rawDocuments } from './documentChecks.ts';
import { ParticipantCheck, type StoredIds, storedIdsBySql, storedIdsByStore } from './participants.ts';
import type { ConsistencyReport, Finding, FindingKind, RepairChange, RepairReport } from './report.ts';
import { checkRollouts } from './rolloutChecks.ts';

/** Options of `ConsistencyChecker`. */
export interface ConsistencyCheckerOptions {
  /** The document store: scanned through its interface when `sql` is not given; used by repair's sweep. */
  store?: DocumentStore;
  /** Namespaces to scan through `store` (the interface cannot list them); SQL scans find them all. */
  namespaces?: readonly string[];
  /** Raw SQL access to the same data (SQLite or PostgreSQL): per-document findings and the rollout checks. */
  sql?: {
    runner: SqlRunner;
    /** Table of the documents (`agentstate_documents` on SQLite, `documents` on PostgreSQL); omit to skip. */
    documentsTable?: string;
    /** Whether the rollout tables are there to check (default true). */
    rollouts?: boolean;
  };
  /** The rollout store of the same data: repair re-derives rollout statuses through it. */
  rolloutStore?: RolloutStore;
  /** Documents that must exist (the seed's `system:config`, `system:status`). */
  required?: ReadonlyArray<{ namespace: string; id: string }>;
  /** Namespace of agent modules (default `agents`). */
  agentsNamespace?: string;
  /** Namespace of session modules (default `sessions`); their participants are checked against agents. */
  sessionsNamespace?: string;
  /** Codec to decode values with (default: the package codec and its registered classes). */
  codec?: Codec;
  /** Keys of values encrypted at rest (the ones the store was opened with). */
  encryption?: EncryptionKeys;
  /** Module types saved modules must be registered in (omit to skip that check). */
  moduleTypes?: ModuleTypeRegistry;
  /** Clock in epoch ms (default `Date.now`). */
  now?: () => number;
  /** Most findings reported per kind (default 1000); the report lists kinds that had more. */
  maxFindings?: number;
}

/** Checks stored state and repairs what is safe to repair. */
export class ConsistencyChecker {
  readonly #options: ConsistencyCheckerOptions;
  readonly #codec: Codec;
  readonly #now: () => number;
  readonly #limit: number;

  /** A checker over the stores in `options`. */
  constructor(options: ConsistencyCheckerOptions) {
    if (!options.store && !options.sql) {
      throw new InvalidInputError('ConsistencyChecker needs a store or sql access', { option: 'store' });
    }
    this.#options = options;
    this.#codec = options.codec ?? defaultCodec;
    this.#now = options.now ?? Date.now;
    this.#limit = options.maxFindings ?? 1000;
  }

  /** Runs every check; never throws for bad data (only for an unreachable store). */
  async check(): Promise<ConsistencyReport> {
    const o = this.#options;
    const now = this.#now();
    const report: ConsistencyReport = {
      errors: [],
      warnings: [],
      checkedAt: new Date(now).toISOString(),
      counts: {},
      truncated: [],
    };
    const perKind = new Map<FindingKind, number>();
    const add = (finding: Finding, severity: 'error' | 'warning') => {
      const n = (perKind.get(finding.kind) ?? 0) + 1;
      perKind.set(finding.kind, n);
      if (n > this.#limit) {
        if (!report.truncated.includes(finding.kind)) report.truncated.push(finding.kind);
        return;
      }
      (severity === 'error' ? report.errors : report.warnings).push(finding);
    };
    const agentsNs = o.agentsNamespace ?? 'agents';
    const sessionsNs = o.sessionsNamespace ?? 'sessions';
    const namespaces = new Set<string>();
    let documents = 0;
    const ctx = {
      codec: this.#codec,
      encryption: o.encryption,
      moduleTypes: o.moduleTypes,
      now,
      report: add,
    };
    // Participants may be people as well as agents, so a missing agent is a warning, and only when agents
    // are stored. They are looked up in batches as the scan goes (./participants.ts): memory holds one
    // batch, not every agent and session.
    const participants = (await this.#anyStored(agentsNs))
      ? new ParticipantCheck(this.#storedIds(), agentsNs, (session, participant) =>
          add(
            {
              kind: 'participant-not-agent',
              document: { namespace: sessionsNs, id: session },
              message: `participant ${participant} of session ${session} is not a stored agent`,
              fix: `create agent ${participant}, or remove the participant if the agent was deleted`,
              repairable: false,
            },
            'warning',
          ),
        )
      : undefined;
    for await (const doc of this.#documents(add)) {
      documents++;
      namespaces.add(doc.namespace);
      const value = checkDocument(doc, ctx);
      if (participants && doc.namespace === sessionsNs) {
        const list = (value as { state?: { participants?: unknown } } | undefined)?.state?.participants;
        if (Array.isArray(list))
          await participants.add(
            doc.id,
            list.filter((p): p is string => typeof p === 'string'),
          );
      }
    }
    await participants?.flush();
    report.counts.documents = documents;
    report.counts.namespaces = namespaces.size;
    for (const { namespace, id } of o.required ?? []) {
      if (await this.#exists(namespace, id)) continue;
      add(
        {
          kind: 'missing-required',
          document: { namespace, id },
          message: `required document ${namespace}/${id} is missing`,
          fix: 'restore it from a backup (restore --only <namespace> --mode merge) or create it',
          repairable: false,
        },
        'error',
      );
    }
    if (o.sql && o.sql.rollouts !== false) {
      const { truncated, counts } = await checkRollouts(o.sql.runner, this.#limit, add);
      for (const kind of truncated) if (!report.truncated.includes(kind)) report.truncated.push(kind);
      Object.assign(report.counts, counts);
    }
    return report;
  }

  /** Checks, then fixes the safe findings; with `dryRun` only lists what it would change. */
  async repair(options: { dryRun?: boolean } = {}): Promise<RepairReport> {
    const dryRun = options.dryRun ?? false;
    const report = await this.check();
    const changes: RepairChange[] = [];
    const skipped: RepairChange[] = [];
    const o = this.#options;
    const sql = o.sql?.runner;
    const findings = [...report.errors, ...report.warnings].filter((f) => f.repairable);
    let swept = false;
    for (const finding of findings) {
      const where = finding.document;
      const key = 'key' in where ? where.key : where.id;
      const change = (action: string): RepairChange => ({ kind: finding.kind, document: where, action });
      switch (finding.kind) {
        case 'expired-not-swept': {
          if (!o.store) {
            skipped.push(change('sweep expired documents: needs the document store'));
            break;
          }
          changes.push(change('delete (expired)'));
          if (!dryRun && !swept) {
            await o.store.sweepExpired();
            swept = true;
          }
          break;
        }
        case 'dangling-queue-entry': {
          changes.push(change('drop queue entry'));
          if (!dryRun && sql)
            await sql.run(`DELETE FROM ${sql.table('agl_queue')} WHERE rollout_id = ?`, [key]);
          break;
        }
        case 'sequence-counter-behind': {
          if (!sql) break;
          const [row] = await sql.all(
            `SELECT MAX(sequence_id) AS top FROM ${sql.table('agl_spans')} WHERE rollout_id = ?`,
            [key],
          );
          const top = Number(row?.top ?? 0);
          changes.push(change(`raise span counter to ${top}`));
          if (!dryRun) {
            await sql.run(
              `INSERT INTO ${sql.table('agl_span_sequences')} (rollout_id, last_sequence_id) VALUES (?, ?)
               ON CONFLICT (rollout_id) DO UPDATE SET last_sequence_id = excluded.last_sequence_id
               WHERE ${sql.table('agl_span_sequences')}.last_sequence_id < excluded.last_sequence_id`,
              [key, top],
            );
          }
          break;
        }
        case 'stale-rollout-status': {
          const store = o.rolloutStore;
          const rollout = store ? await store.getRolloutById(key) : null;
          const attempt = store && rollout ? await store.getLatestAttempt(key) : null;
          if (!store || !rollout || !attempt) {
            skipped.push(change('re-derive status: needs the rollout store'));
            break;
          }
          const status = rolloutStatusFromAttempt(attempt, rollout.config);
          changes.push(
            change(`set status ${rollout.status} -> ${status} (latest attempt is ${attempt.status})`),
          );
          if (!dryRun) await store.updateRollout(key, { status });
          break;
        }
        default:
          break;
      }
    }
    return { dryRun, changes, skipped, report };
  }

  /** Whether `namespace` holds any document (SQL when available, else the store's interface). */
  async #anyStored(namespace: string): Promise<boolean> {
    const o = this.#options;
    if (o.sql?.documentsTable) {
      const rows = await o.sql.runner.all(
        `SELECT 1 AS x FROM ${o.sql.runner.table(o.sql.documentsTable)} WHERE namespace = ? LIMIT 1`,
        [namespace],
      );
      return rows.length > 0;
    }
    if (!o.store) return false;
    // A page that cannot be decoded still holds documents.
    const page = await o.store.list(namespace, { limit: 1 }).catch(() => ({ items: [undefined] }));
    return page.items.length > 0;
  }

  /** How the participant check looks ids up: SQL when the documents table is known, else the store. */
  #storedIds(): StoredIds {
    const o = this.#options;
    if (o.sql?.documentsTable) return storedIdsBySql(o.sql.runner, o.sql.documentsTable);
    return storedIdsByStore(o.store!);
  }

  async #exists(namespace: string, id: string): Promise<boolean> {
    const o = this.#options;
    if (o.store) return (await o.store.get(namespace, id).catch(() => ({}))) !== undefined;
    const sql = o.sql!;
    if (!sql.documentsTable) return false;
    const rows = await sql.runner.all(
      `SELECT 1 AS x FROM ${sql.runner.table(sql.documentsTable)} WHERE namespace = ? AND id = ? LIMIT 1`,
      [namespace, id],
    );
    return rows.length > 0;
  }

  /** Documents as raw rows: from SQL when available, else through the store's interface. */
  async *#documents(
    add: (finding: Finding, severity: 'error' | 'warning') => void,
  ): AsyncIterable<RawDocument> {
    const o = this.#options;
    if (o.sql?.documentsTable) {
      yield* rawDocuments(o.sql.runner, o.sql.documentsTable);
      return;
    }
    if (!o.store) return;
    for (const namespace of o.namespaces ?? []) {
      let cursor: string | undefined;
      do {
        let page: Awaited<ReturnType<DocumentStore['list']>>;
        try {
          page = await o.store.list(namespace, { limit: 1000, ...(cursor ? { cursor } : {}) });
        } catch (error) {
          // Through the interface one undecodable document fails its whole page; SQL access pinpoints it.
          add(
            {
              kind: 'unreadable-page',
              document: { namespace, id: cursor ?? '' },
              message: `a page of ${namespace} cannot be read: ${(error as Error).message}`,
              fix: 'check with SQL access (agentstate check) to find the document; register missing types',
              repairable: false,
            },
            'error',
          );
          break;
        }
        for (const doc of page.items) {
          yield {
            namespace,
            id: doc.id,
            value: JSON.stringify(this.#codec.encode(doc.value)),
            revision: doc.revision,
            createdAt: doc.createdAt,
            updatedAt: doc.updatedAt,
            expiresAt: doc.expiresAt ?? null,
          };
        }
        cursor = page.cursor;
      } while (cursor);
    }
  }
}
