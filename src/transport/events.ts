// A typed event emitter in the nanoevents style: events are a map from name to payload type,
// and on() returns its own unsubscribe, so no listener can outlive the code that added it.

export type Unsubscribe = () => void;

export class Emitter<M extends object> {
  readonly #listeners = new Map<keyof M, Array<(payload: never) => void>>();

  on<K extends keyof M>(event: K, listener: (payload: M[K]) => void): Unsubscribe {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener as (payload: never) => void);
    this.#listeners.set(event, list);
    return () => {
      const current = this.#listeners.get(event);
      if (current === undefined) return;
      // Copy on write, so an emit in progress keeps its snapshot of listeners.
      this.#listeners.set(event, current.filter((l) => l !== listener));
    };
  }

  emit<K extends keyof M>(event: K, payload: M[K]): void {
    const list = this.#listeners.get(event);
    if (list === undefined) return;
    for (const listener of list) (listener as (payload: M[K]) => void)(payload);
  }

  listenerCount(event: keyof M): number {
    return this.#listeners.get(event)?.length ?? 0;
  }
}
