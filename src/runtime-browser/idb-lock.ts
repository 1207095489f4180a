// One open store per member database and origin. Two tabs writing one member's log would interleave
// two Raft histories in one database, so a second opener is refused at once, never queued.
// Web Locks guard tabs and workers of the origin; without them (fake-indexeddb in Node, old
// browsers) an in-process registry guards only the current page or process.

export type LockRelease = () => void;

/**
 * Names held when Web Locks is missing, per IndexedDB factory: a factory is one origin's set of
 * databases, so two fake factories in one Node process do not refuse each other.
 */
const heldByFactory = new WeakMap<object, Set<string>>();

/** Takes the lock `name` if nobody holds it; null when it is held elsewhere. */
export function tryLock(name: string, locks: LockManager | null, scope: object): Promise<LockRelease | null> {
  return locks === null ? Promise.resolve(tryLocalLock(name, scope)) : tryWebLock(name, locks);
}

/** The origin's Web Locks when the runtime has them (browsers in secure contexts, Deno); else null. */
export function defaultLockManager(): LockManager | null {
  const nav = (globalThis as { navigator?: { locks?: LockManager } }).navigator;
  return nav?.locks ?? null;
}

function tryLocalLock(name: string, scope: object): LockRelease | null {
  let held = heldByFactory.get(scope);
  if (held === undefined) {
    held = new Set();
    heldByFactory.set(scope, held);
  }
  if (held.has(name)) return null;
  held.add(name);
  const names = held;
  return () => {
    names.delete(name);
  };
}

function tryWebLock(name: string, locks: LockManager): Promise<LockRelease | null> {
  return new Promise((resolve, reject) => {
    let settled = false;
    // The lock is held for as long as the callback's promise is pending: it settles on release.
    const held = locks.request(name, { ifAvailable: true }, (lock: Lock | null) => {
      settled = true;
      if (lock === null) {
        resolve(null);
        return undefined;
      }
      return new Promise<void>((release) => resolve(() => release()));
    });
    held.catch((err: unknown) => {
      if (!settled) reject(err);
    });
  });
}
