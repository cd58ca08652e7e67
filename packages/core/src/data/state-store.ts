import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Low } from 'lowdb';
import { z } from 'zod';
import type { StateStore } from '../agent/store.js';
import { jsonCopy } from '../json-copy.js';
import { DataCorruptedError } from './errors.js';
import { openDocument, type DurableJsonFile, type DurableJsonFileOptions } from './durable-file.js';
import { decodeFileKey, encodeFileKey, isNotFound } from './fs-utils.js';
import type { AgentStateRepository } from './repositories.js';

const documentSchema = z.object({
  version: z.literal(1),
  agent: z.string(),
  values: z.record(z.string(), z.unknown()),
});
type StateDocument = z.output<typeof documentSchema>;

/**
 * One agent's key-value state (positions it tracks, open order ids, peak equity, tripped
 * breakers...) in its own small lowdb document. `set` resolves once the new state is durable;
 * values are stored as JSON, so what `get` returns is a copy the caller may change freely.
 */
export class DocumentStateStore implements StateStore {
  private doc: Promise<{ db: Low<StateDocument>; file: DurableJsonFile<StateDocument> }> | undefined;

  constructor(
    readonly agentId: string,
    readonly path: string,
    private readonly options: DurableJsonFileOptions,
  ) {}

  private load(): Promise<{ db: Low<StateDocument>; file: DurableJsonFile<StateDocument> }> {
    this.doc ??= (async () => {
      const opened = await openDocument<StateDocument>(this.path, { version: 1, agent: this.agentId, values: {} }, this.options);
      const parsed = documentSchema.safeParse(opened.db.data);
      if (!parsed.success) throw new DataCorruptedError(this.path, 'not an agent state document');
      opened.db.data = parsed.data;
      return opened;
    })();
    // A failed load is retried on the next call instead of being remembered forever.
    this.doc.catch(() => (this.doc = undefined));
    return this.doc;
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const { db } = await this.load();
    const value = db.data.values[key];
    return value === undefined ? undefined : (jsonCopy(value) as T);
  }

  async set<T = unknown>(key: string, value: T): Promise<void> {
    const { db } = await this.load();
    if (value === undefined) {
      delete db.data.values[key];
    } else {
      const copy = jsonCopy(value);
      if (copy === undefined) throw new TypeError(`State '${key}' of agent '${this.agentId}' cannot be stored as JSON: it is a ${typeof value}; store plain data.`);
      db.data.values[key] = copy;
    }
    await db.write();
  }

  async delete(key: string): Promise<void> {
    const { db } = await this.load();
    if (!(key in db.data.values)) return;
    delete db.data.values[key];
    await db.write();
  }

  async keys(): Promise<string[]> {
    const { db } = await this.load();
    return Object.keys(db.data.values);
  }

  /** Resolves once no write is queued or running. */
  async idle(): Promise<void> {
    if (this.doc === undefined) return;
    const { file } = await this.doc.catch(() => ({ file: undefined }));
    await file?.flushNow();
  }
}

/** Agent state documents under `<dir>/<agent id>.json`, one store object per agent. */
export class DocumentAgentStateRepository implements AgentStateRepository {
  private readonly stores = new Map<string, DocumentStateStore>();

  constructor(
    readonly dir: string,
    private readonly options: DurableJsonFileOptions,
  ) {}

  forAgent(agentId: string): DocumentStateStore {
    let store = this.stores.get(agentId);
    if (store === undefined) {
      store = new DocumentStateStore(agentId, join(this.dir, `${encodeFileKey(agentId)}.json`), this.options);
      this.stores.set(agentId, store);
    }
    return store;
  }

  async agents(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => decodeFileKey(n.slice(0, -'.json'.length)))
      .sort();
  }

  async idle(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.idle()));
  }
}
