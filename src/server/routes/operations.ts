/**
 * `/v1/operations/...`: what the operations layer knows, for the dashboard's Backups page. Admin scope:
 * backup listings name the data's sources and sections, and a consistency report names documents and
 * rows. Every answer is bounded: backups are listed a page at a time (only that page's files are opened),
 * and a consistency check runs one at a time (`LatestConsistencyCheck`), started on request, its latest
 * result kept.
 */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import type { BackupManager, LatestConsistencyCheck } from '../../operations/index.ts';
import { typedRoutes } from '../schemaTypes.ts';

/** Backups one page lists at most. */
export const MAX_BACKUPS_PAGE = 100;

const ADMIN = { access: { scope: 'admin' as const } };

/** What the operations routes read (each optional: a route without its part answers 404). */
export interface OperationsRouteOptions {
  /** The backup directory's manager (`serve --backup-dir`); only listed, never written, here. */
  backups?: Pick<BackupManager, 'names' | 'describe'> | undefined;
  /** The consistency check the routes run and report. */
  consistency?: LatestConsistencyCheck | undefined;
}

/** Registers `/v1/operations/backups` and `/v1/operations/consistency`. */
export function registerOperationsRoutes(app: FastifyInstance, options: OperationsRouteOptions): void {
  typedRoutes(app).get(
    '/v1/operations/backups',
    {
      config: ADMIN,
      schema: {
        tags: ['operations'],
        summary: `Backups in the server's backup directory, newest name first, at most ${MAX_BACKUPS_PAGE} a page`,
        description:
          'Each with its creation time, file size and record counts per section (read from the file trailer). ' +
          'Files that cannot be read are listed under unreadable. Follow `cursor` for the next page.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_BACKUPS_PAGE },
            cursor: { type: 'string', maxLength: 512 },
          },
        },
      },
    },
    async (request) => {
      const backups = options.backups;
      if (!backups) {
        throw new NotFoundError('this server has no backup directory: start it with serve --backup-dir', {
          option: 'backup-dir',
        });
      }
      const { limit = 50, cursor } = request.query;
      // Names only (a directory listing); files are opened for the page shown, never for all of them.
      const names = (await backups.names()).reverse();
      const start = cursor === undefined ? 0 : names.findIndex((name) => name < cursor);
      const page = start < 0 ? [] : names.slice(start, start + limit);
      const listed = await Promise.all(
        page.map(async (name) => {
          try {
            const info = await backups.describe(name);
            return {
              name,
              createdAt: info.createdAt,
              bytes: info.bytes,
              records: info.records,
              sections: info.sections,
              sources: info.sources,
              formatVersion: info.formatVersion,
            };
          } catch (error) {
            const e = error as { code?: string; message?: string };
            return { name, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(error) } };
          }
        }),
      );
      const last = page.at(-1);
      return {
        backups: listed.filter((b) => !('error' in b)),
        unreadable: listed.filter((b) => 'error' in b),
        total: names.length,
        ...(last !== undefined && start + page.length < names.length ? { cursor: last } : {}),
      };
    },
  );

  const consistency = () => {
    if (!options.consistency) {
      throw new NotFoundError('this server has no consistency check configured', {
        route: '/v1/operations/consistency',
      });
    }
    return options.consistency;
  };
  const state = (check: LatestConsistencyCheck) => ({
    running: check.runningSince !== undefined,
    ...(check.runningSince !== undefined ? { runningSince: check.runningSince } : {}),
    latest: check.latest ?? null,
  });

  app.get(
    '/v1/operations/consistency',
    {
      config: ADMIN,
      schema: {
        tags: ['operations'],
        summary:
          'The latest consistency report, with when it started and how long it took, and whether a check runs',
        description: 'latest is null until a check has run (POST /v1/operations/consistency/runs).',
      },
    },
    async () => state(consistency()),
  );

  app.post(
    '/v1/operations/consistency/runs',
    {
      config: ADMIN,
      schema: {
        tags: ['operations'],
        summary: 'Start a consistency check (one at a time: while one runs, this joins it); 202 at once',
        description: 'Read the result with GET /v1/operations/consistency once running is false.',
      },
    },
    async (_request, reply) => {
      const check = consistency();
      // Not awaited: a check reads every document and row and may outlast any HTTP timeout.
      void check.run();
      reply.code(202);
      return state(check);
    },
  );
}
