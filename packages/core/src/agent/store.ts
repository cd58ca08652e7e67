import { jsonCopy } from '../json-copy.js';

/**
 * Per-agent durable key-value state (positions, open orders, risk state...). The data layer
 * provides a file-backed implementation; `MemoryStateStore` serves tests and stateless agents.
 */
export interface StateStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set<T = unknown>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

const SETTLED = Promise.resolve();

export class MemoryStateStore implements StateStore {
  /** Copies of what was set, as a file store would read them back: callers never share (and mutate) a stored object. */
  private readonly data = new Map<string, unknown>();

  async get<T>(key: string): Promise<T | undefined> {
    const stored = this.data.get(key);
    // Stored values are plain JSON data already: copying them again is the direct path.
    return typeof stored === 'object' && stored !== null ? (jsonCopy(stored) as T) : (stored as T | undefined);
  }

  set<T>(key: string, value: T): Promise<void> {
    // Not async: agents write on every bar, and one settled promise serves every write.
    try {
      if (value === undefined) {
        this.data.delete(key);
        return SETTLED;
      }
      const copy = jsonCopy(value);
      if (copy === undefined) throw new TypeError(`State '${key}' cannot be stored as JSON: it is a ${typeof value}; store plain data.`);
      this.data.set(key, copy);
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
