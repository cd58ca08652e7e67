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
  /** Objects as JSON text, so callers never share (and mutate) a stored object, as with a real store; plain values as they are. */
  private readonly data = new Map<string, StoredJson | string | number | boolean | null>();

  async get<T>(key: string): Promise<T | undefined> {
    const stored = this.data.get(key);
    if (stored instanceof StoredJson) return JSON.parse(stored.text) as T;
    return stored as T | undefined;
  }

  set<T>(key: string, value: T): Promise<void> {
    // Not async: agents write on every bar, and one settled promise serves every write.
    try {
      // A finite number, string, boolean or null reads back the same without a JSON round trip.
      if (value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
        this.data.set(key, value as string | number | boolean | null);
      } else {
        const text = JSON.stringify(value);
        if (text === undefined) this.data.delete(key);
        else this.data.set(key, new StoredJson(text));
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

class StoredJson {
  constructor(readonly text: string) {}
}
