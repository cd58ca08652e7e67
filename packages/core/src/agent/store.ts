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
  private readonly data = new Map<string, string>();

  async get<T>(key: string): Promise<T | undefined> {
    const raw = this.data.get(key);
    // Stored as JSON so callers never share (and mutate) the stored object, as with a real store.
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  set<T>(key: string, value: T): Promise<void> {
    // Not async: agents write on every bar, and one settled promise serves every write.
    try {
      this.data.set(key, JSON.stringify(value));
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
