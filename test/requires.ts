// Suites that need something this machine may lack (Chromium, Deno, root for network namespaces)
// register their tests through unless(): with the need unmet, each test is registered as skipped,
// so uvu counts it under "Skipped" (and `npm test` reports it as skipped, never as passed), and
// the reason is printed once.
import type { Callback, Test } from 'uvu';

export type TestFn<T> = (name: string, fn: Callback<T>) => void;

/** `t` itself when `why` is null; otherwise a registrar of skipped tests that says why once. */
export function unless<T>(t: Test<T>, why: string | null): TestFn<T> {
  if (why === null) return t;
  console.log(`skipped: ${why}`);
  return (name, fn) => t.skip(name, fn);
}
