// The RolloutStore conformance suite on every backend: one line per backend.

import { httpRolloutFactory } from '../client/httpBackend.ts';
import { rolloutStoreConformance } from '../conformance/rolloutStore.ts';
import { memoryRolloutFactory, sqliteRolloutFactory } from './backends.ts';
import { postgresRolloutFactory } from './postgresBackend.ts';

rolloutStoreConformance([
  memoryRolloutFactory,
  sqliteRolloutFactory,
  httpRolloutFactory,
  postgresRolloutFactory,
]);
