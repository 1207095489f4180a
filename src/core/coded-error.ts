// The one base of every operating error edgeraft throws (invariant violations are AssertionError).
// One class, so that callers branch on a stable `code`, a user reads `Name: message`, a catch-all
// is `err instanceof CodedError`, and an error logged as JSON keeps its code. Pure: any runtime.

export class CodedError<C extends string = string> extends Error {
  /**
   * The subclass's name. Each subclass also declares it as a literal field (`override readonly
   * name = 'StoreError'`): that keeps its literal type and survives a bundler that renames classes.
   */
  override readonly name: string;
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** What JSON.stringify writes: `message` is not an own enumerable field of an Error. */
  toJSON(): { name: string; code: C; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}
