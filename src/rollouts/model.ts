// The rollout model without any store: its types, the checks of ids and spans, and the conversion of
// OpenTelemetry spans. The client and the Agent Lightning wire format import this file, which loads no
// store, database driver or Node builtin; everything else imports the layer through index.ts.

export {
  MAX_ROLLOUT_ID_LENGTH,
  MAX_SPAN_NAME_LENGTH,
  normalizeSpan,
  requireId,
} from './normalize.ts';
export { spanFromOtel } from './otel.ts';
export * from './types.ts';
