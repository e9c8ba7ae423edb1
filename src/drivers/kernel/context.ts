import { codec as defaultCodec } from '../../codec/index.ts';
import { reportBackgroundError } from '../../shared/backgroundErrors.ts';
import { ChangeHub } from '../shared/changeHub.ts';
import type { OptionSchema } from '../shared/optionSchema.ts';
import { payloadSettings } from '../shared/payload.ts';
import type { DriverOptions } from '../types.ts';
import type { DriverContext } from './storage.ts';
import { wholeMilliseconds } from './ttl.ts';

/** What the shared layer needs to know of a driver besides its storage. */
export interface DriverSpec {
  /** `store.name`: `memory`, `sqlite`, ... */
  readonly name: string;
  /** The driver's name in messages about its options and background work (`SQLite`, `filesystem`). */
  readonly label: string;
  /** The driver's own options by kind (see shared/optionSchema.ts). */
  readonly options: OptionSchema;
}

/**
 * What a store's driver works with, from the options every driver takes (validated here, with the
 * driver's own by kind): codec, payload settings, the whole-millisecond clock, the change hub (a watch
 * listener that throws is reported, never stops delivery) and `onError` reporting, which names the driver.
 */
export function driverContext(spec: DriverSpec, options: DriverOptions): DriverContext {
  const settings = payloadSettings(options, spec.label, spec.options);
  const onError = options.onError;
  const reportError = (error: unknown, source: string, details?: Record<string, unknown>) =>
    reportBackgroundError(onError, error, { source: `${spec.label} ${source}`, ...(details && { details }) });
  const hub = new ChangeHub((error, event) =>
    reportError(error, 'watch listener', { namespace: event.namespace, id: event.id }),
  );
  return {
    codec: options.codec ?? defaultCodec,
    settings,
    now: wholeMilliseconds(options.now ?? Date.now),
    hub,
    reportError,
    onError,
  };
}
