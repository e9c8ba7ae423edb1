/**
 * The least any LangGraph checkpointer can do per put on PostgreSQL, as a yardstick for `bench langgraph`:
 * one prepared statement on one connection (one round trip, one implicit transaction, one WAL flush) that
 * inserts the new channel values and the checkpoint row, with no checks, no encoding beyond
 * JSON.stringify and nothing read back. A real saver does at least this much work per put, so "floor put/s
 * ÷ PostgresSaver put/s", measured in the same run, bounds the ratio any saver can reach on this server.
 * Put only: it is not a saver (nothing reads it back).
 */
import type { Checkpoint, CheckpointMetadata } from '@langchain/langgraph-checkpoint';
import pg from 'pg';
import type { PutOnlySaver } from './_threadWorkload.ts';

/** A connection that stores puts with the floor statement, and how to drop what it made. */
export interface FloorSaver extends PutOnlySaver {
  end(): Promise<void>;
}

/** Opens the floor on `url`, in its own tables of `schema` (created here). */
export async function openFloorSaver(url: string, schema: string): Promise<FloorSaver> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const s = `"${schema}"`;
  await client.query(`CREATE SCHEMA ${s};
    CREATE TABLE ${s}.blobs (thread text, ns text, channel text, version text, value bytea,
      PRIMARY KEY (thread, ns, channel, version));
    CREATE TABLE ${s}.checkpoints (thread text, ns text, id text, parent text, checkpoint bytea, metadata bytea,
      PRIMARY KEY (thread, ns, id))`);
  const text = `WITH b AS (
      INSERT INTO ${s}.blobs SELECT $1, $2, ch, v, val
        FROM unnest($3::text[], $4::text[], $5::bytea[]) AS u(ch, v, val) ON CONFLICT DO NOTHING)
    INSERT INTO ${s}.checkpoints VALUES ($1, $2, $6, $7, $8, $9)`;
  return {
    getNextVersion: (current) => (typeof current === 'number' ? current : 0) + 1,
    async put(config, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions) {
      const { channel_values: values, ...rest } = checkpoint;
      const threadId = String(config.configurable?.thread_id);
      const channels = Object.keys(newVersions);
      await client.query({
        name: 'floor_put',
        text,
        values: [
          threadId,
          '',
          channels,
          channels.map((c) => String(newVersions[c])),
          channels.map((c) => Buffer.from(JSON.stringify(values[c]))),
          checkpoint.id,
          config.configurable?.checkpoint_id ?? null,
          Buffer.from(JSON.stringify(rest)),
          Buffer.from(JSON.stringify(metadata)),
        ],
      });
      return { configurable: { thread_id: threadId, checkpoint_ns: '', checkpoint_id: checkpoint.id } };
    },
    end: () => client.end(),
  };
}
