import { jsonCopy } from '../json-copy.js';

/**
 * Per-agent durable key-value state (positions, open orders, risk state...). The data layer keeps
 * it in the process's state log (`LogStateStore`); `MemoryStateStore` serves tests and stateless
 * agents, `ReferenceStateStore` backtests.
 */
export interface StateStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Resolves once the value is durable; `undefined` deletes the key. */
  set<T = unknown>(key: string, value: T, options?: WriteOptions): Promise<void>;
  /**
   * Writes several keys as one change: after a crash either all of them have their new values or
   * none has. `undefined` deletes a key. One durable write, however many keys.
   */
  setMany(entries: Iterable<readonly [string, unknown]>, options?: WriteOptions): Promise<void>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

export interface WriteOptions {
  /**
   * Nobody waits for this write: it does not start a sync of its own but goes to disk with the
   * next write that does (still in order: never after a later write), or within a short while.
   * For progress marks a restart can do without (a replay position, a resume point).
   */
  background?: boolean;
}

const SETTLED = Promise.resolve();

function storable(key: string, value: unknown): unknown {
  const copy = jsonCopy(value);
  if (copy === undefined) throw new TypeError(`State '${key}' cannot be stored as JSON: it is a ${typeof value}; store plain data.`);
  return copy;
}

export class MemoryStateStore implements StateStore {
  /** Copies of what was set, as a file store would read them back: callers never share (and mutate) a stored object. */
  private readonly data = new Map<string, unknown>();

  async get<T>(key: string): Promise<T | undefined> {
    const stored = this.data.get(key);
    // Stored values are plain JSON data already: copying them again is the direct path.
    return typeof stored === 'object' && stored !== null ? (jsonCopy(stored) as T) : (stored as T | undefined);
  }

  set<T>(key: string, value: T): Promise<void> {
    return this.setMany([[key, value]]);
  }

  setMany(entries: Iterable<readonly [string, unknown]>): Promise<void> {
    // Not async: agents write on every bar, and one settled promise serves every write.
    try {
      const copies: Array<[string, unknown]> = [];
      for (const [key, value] of entries) copies.push([key, value === undefined ? undefined : storable(key, value)]);
      for (const [key, copy] of copies) {
        if (copy === undefined) this.data.delete(key);
        else this.data.set(key, copy);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return SETTLED;
  }

  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }

  async keys(): Promise<string[]> {
    return [...this.data.keys()];
  }
}

/**
 * Keeps values by reference: no copy, no serialisation, nothing durable. For backtests, where
 * nothing crashes and nothing restarts, so an agent's state never needs to be read back.
 * An agent that mutates an object after storing it changes what `get` returns.
 */
export class ReferenceStateStore implements StateStore {
  private readonly data = new Map<string, unknown>();

  get<T>(key: string): Promise<T | undefined> {
    return Promise.resolve(this.data.get(key) as T | undefined);
  }

  set<T>(key: string, value: T): Promise<void> {
    if (value === undefined) this.data.delete(key);
    else this.data.set(key, value);
    return SETTLED;
  }

  setMany(entries: Iterable<readonly [string, unknown]>): Promise<void> {
    for (const [key, value] of entries) {
      if (value === undefined) this.data.delete(key);
      else this.data.set(key, value);
    }
    return SETTLED;
  }

  delete(key: string): Promise<void> {
    this.data.delete(key);
    return SETTLED;
  }

  keys(): Promise<string[]> {
    return Promise.resolve([...this.data.keys()]);
  }
}
