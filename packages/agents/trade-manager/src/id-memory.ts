import type { StateStore } from '@tradebus/core';

/** What the manager's main state key holds of an IdMemory. */
export interface IdMemorySnapshot {
  /** The newest ids, not yet moved into a segment. */
  recent: string[];
  /** Sequence numbers of the segment keys holding older ids, oldest first. */
  segments: number[];
  /** Sequence number of the next segment. */
  next: number;
}

/** Segment writes to make before the main key that lists them, and deletions to make after it. */
export interface SealPlan {
  writes: Array<{ key: string; ids: string[] }>;
  commit(): string[];
}

/**
 * Remembers at least the last `limit` ids (signals decided, trades closed) so a redelivered one
 * is recognised, with a lookup in constant time and a save whose cost does not grow with `limit`:
 * the newest ids travel in the agent's main state key, and each `segmentSize` of them move together
 * into a key of their own, written once. A segment is written before the main key that lists it
 * and deleted only after a main key that no longer lists it is written, so at every moment each
 * remembered id is on disk in the main key or in a segment the main key lists.
 */
export class IdMemory {
  private readonly ids = new Set<string>();
  private recent: string[] = [];
  private segments: Array<{ seq: number; ids: string[] }> = [];
  private next = 0;
  private count = 0;

  constructor(
    /** Segment keys are `<prefix><sequence number>`. */
    readonly prefix: string,
    readonly limit: number,
    readonly segmentSize: number,
  ) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Returns false when the id was remembered already. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    this.recent.push(id);
    this.count++;
    return true;
  }

  get size(): number {
    return this.count;
  }

  /** True when a save would move ids into a new segment. */
  get sealDue(): boolean {
    return this.recent.length >= this.segmentSize;
  }

  /**
   * What saving needs beyond the main key: full segments to write first. `commit()` (call it once
   * they are written) moves their ids out of the recent list, forgets segments beyond the limit,
   * and returns the keys to delete once the main key is written.
   */
  seal(): SealPlan {
    const full = Math.floor(this.recent.length / this.segmentSize);
    const writes: SealPlan['writes'] = [];
    for (let i = 0; i < full; i++) {
      writes.push({ key: this.prefix + (this.next + i), ids: this.recent.slice(i * this.segmentSize, (i + 1) * this.segmentSize) });
    }
    return {
      writes,
      commit: () => {
        for (let i = 0; i < writes.length; i++) this.segments.push({ seq: this.next + i, ids: writes[i]!.ids });
        this.next += writes.length;
        this.recent = this.recent.slice(full * this.segmentSize);
        const dropped: string[] = [];
        while (this.segments.length > 0 && this.count - this.segments[0]!.ids.length >= this.limit) {
          const oldest = this.segments.shift()!;
          for (const id of oldest.ids) this.ids.delete(id);
          this.count -= oldest.ids.length;
          dropped.push(this.prefix + oldest.seq);
        }
        return dropped;
      },
    };
  }

  snapshot(): IdMemorySnapshot {
    return { recent: this.recent, segments: this.segments.map((s) => s.seq), next: this.next };
  }

  /** Ids from oldest to newest (tests, migration). */
  list(): string[] {
    return [...this.segments.flatMap((s) => s.ids), ...this.recent];
  }

  /** A memory holding `ids` (oldest first) as recent ids; the next save moves them into segments. */
  static fromList(prefix: string, limit: number, segmentSize: number, ids: readonly string[]): IdMemory {
    const memory = new IdMemory(prefix, limit, segmentSize);
    for (const id of ids) memory.add(id);
    return memory;
  }

  /**
   * Restores a memory from its snapshot and the segments it lists, and deletes segment keys it
   * does not list (left by a crash between a segment write and the main key's).
   */
  static async load(store: StateStore, keys: readonly string[], prefix: string, limit: number, segmentSize: number, snapshot: IdMemorySnapshot | undefined): Promise<IdMemory> {
    const memory = new IdMemory(prefix, limit, segmentSize);
    const listed = new Set<string>();
    if (snapshot !== undefined) {
      memory.next = snapshot.next;
      for (const seq of snapshot.segments) {
        const key = prefix + seq;
        listed.add(key);
        const ids = (await store.get<string[]>(key)) ?? [];
        const kept: string[] = [];
        for (const id of ids) {
          if (memory.ids.has(id)) continue;
          memory.ids.add(id);
          kept.push(id);
        }
        memory.segments.push({ seq, ids: kept });
        memory.count += kept.length;
      }
      for (const id of snapshot.recent) memory.add(id);
    }
    for (const key of keys) {
      if (key.startsWith(prefix) && !listed.has(key)) await store.delete(key);
    }
    return memory;
  }
}
