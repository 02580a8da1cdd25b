/**
 * Resolves after every microtask queued so far (and every microtask those queue in turn) has
 * run: Node drains the whole microtask queue before it reaches the check phase, so one
 * `setImmediate` hop is enough. The virtual clock calls this once per virtual instant so the
 * runtime's promise continuations (storage acknowledgements, awaited applies) complete at the
 * instant that caused them, before virtual time moves on.
 *
 * This is the only place in src/sim allowed to touch a real scheduler; it never reads time.
 *
 * @example
 * void Promise.resolve().then(() => console.log("ran"));
 * await drainMicrotasks(); // "ran" has been printed
 */
export function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => {
    setImmediate(resolve); // determinism-allow: setImmediate (drains microtasks once per virtual instant)
  });
}
