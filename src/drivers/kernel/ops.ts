import type { Codec } from '../../codec/index.ts';
import { valuePath } from '../shared/documents.ts';
import { type PackedPayload, type PayloadSettings, packPayload } from '../shared/payload.ts';
import type { BatchOperation, DeleteOptions, PutOptions, StorageInfo } from '../types.ts';
import type { DeleteOp, PutOp, WriteOp } from './storage.ts';
import { expiryTime } from './ttl.ts';

/**
 * Encodes a validated put before any storage is touched, so a value the codec refuses changes nothing.
 * A plain value is serialized only for drivers that store text: one that `keepsEncoded` (memory) gets
 * its storage facts computed on first use, since a JSON.stringify and a SHA-256 are about a third of a put.
 */
export function preparePut(
  codec: Codec,
  settings: PayloadSettings,
  keepsEncoded: boolean,
  namespace: string,
  id: string,
  value: unknown,
  options: PutOptions | undefined,
  now: number,
): PutOp {
  const encoded = codec.encode(value, valuePath(namespace, id));
  let packed: PackedPayload | undefined =
    keepsEncoded && settings.compression === 'none' && !settings.encryption
      ? undefined
      : packPayload(JSON.stringify(encoded), settings);
  let storage: StorageInfo | undefined = packed?.storage;
  const ttlMs = options?.ttlMs;
  return {
    type: 'put',
    namespace,
    id,
    expectedRevision: options?.expectedRevision,
    encoded,
    packed,
    storage: () => {
      if (storage === undefined) {
        packed = packPayload(JSON.stringify(encoded), settings);
        storage = packed.storage;
      }
      return storage;
    },
    metadata: options?.metadata === undefined ? undefined : codec.encode(options.metadata, '$.metadata'),
    expiresAt: ttlMs === undefined ? undefined : expiryTime(now, ttlMs),
  };
}

/** A validated delete. */
export function prepareDelete(namespace: string, id: string, options: DeleteOptions | undefined): DeleteOp {
  return { type: 'delete', namespace, id, expectedRevision: options?.expectedRevision };
}

/** The operations of a validated batch, every put encoded. */
export function prepareBatch(
  codec: Codec,
  settings: PayloadSettings,
  keepsEncoded: boolean,
  operations: readonly BatchOperation[],
  now: number,
): WriteOp[] {
  return operations.map((op) =>
    op.type === 'put'
      ? preparePut(codec, settings, keepsEncoded, op.namespace, op.id, op.value, op.options, now)
      : prepareDelete(op.namespace, op.id, op.options),
  );
}
