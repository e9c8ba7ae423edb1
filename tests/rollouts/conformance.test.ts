// The RolloutStore conformance suite on every backend: one line per backend.
import { rolloutStoreConformance } from '../conformance/rolloutStore.ts';
import { memoryRolloutFactory } from './backends.ts';

rolloutStoreConformance([memoryRolloutFactory]);
