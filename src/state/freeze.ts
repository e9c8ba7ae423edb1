// Deep freezing is shared with the persistence cache, so it lives with the other shared helpers.
export { deepFreeze, frozenConcat, isImmutable } from '../shared/deepFreeze.ts';
