/**
 * Resolves once `promise` has settled, whichever way. For waiting on work whose failure is already
 * delivered to someone else: the previous task of a queue (its caller got the rejection), a connect or
 * a run in progress when `close()` is called. Not for errors nobody sees: those go to `onError`
 * (`backgroundErrors.ts`).
 */
export function settled(promise: Promise<unknown> | undefined): Promise<void> {
  return Promise.resolve(promise).then(
    () => undefined,
    () => undefined,
  );
}
