// Always-on invariant checks for the core. A failed assertion is a programmer error (a broken
// invariant), never an operating error: it throws with the values that broke it so a simulator
// seed or a crash report points straight at the cause.

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'string' ? message : message());
  }
}

export function assertNever(value: never, what: string): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
