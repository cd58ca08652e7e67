import type { StateStore } from '@tradebus/core';
import { SegmentedLog, type SealPlan, type SegmentedLogPolicy, type SegmentedLogSnapshot } from './segmented-log.js';

export type IdMemorySnapshot = SegmentedLogSnapshot<string>;

/**
 * Remembers at least the last `limit` ids (signals decided, trades closed) so a redelivered one is
 * recognised, with a lookup in constant time, persisted as a SegmentedLog: saving costs the same
 * whatever `limit` is.
 */
export class IdMemory {
  private readonly ids = new Set<string>();
  private count = 0;
  private log: SegmentedLog<string>;

  constructor(
    readonly prefix: string,
    readonly limit: number,
    readonly segmentSize: number,
  ) {
    this.log = new SegmentedLog(prefix, segmentSize, this.policy());
  }

  private policy(): SegmentedLogPolicy<string> {
    return {
      // The oldest segment goes once the others hold `limit` ids without it.
      droppable: (oldest) => this.count - oldest.length >= this.limit,
      added: (id) => {
        this.ids.add(id);
        this.count++;
      },
      dropped: (ids) => {
        for (const id of ids) this.ids.delete(id);
        this.count -= ids.length;
      },
    };
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Returns false when the id was remembered already. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.log.append(id);
    return true;
  }

  get size(): number {
    return this.count;
  }

  /** Full segments to write before the main key (see SegmentedLog). */
  seal(): SealPlan<string> {
    return this.log.seal();
  }

  snapshot(): IdMemorySnapshot {
    return this.log.snapshot();
  }

  /** Ids from oldest to newest (tests, migration). */
  list(): string[] {
    return this.log.items();
  }

  /** Restores a memory from its snapshot and segments, deleting segment keys the snapshot does not list. */
  static async load(store: StateStore, keys: readonly string[], prefix: string, limit: number, segmentSize: number, snapshot: IdMemorySnapshot | undefined): Promise<IdMemory> {
    const memory = new IdMemory(prefix, limit, segmentSize);
    memory.log = await SegmentedLog.load(store, keys, prefix, segmentSize, memory.policy(), snapshot, (id) => !memory.ids.has(id));
    return memory;
  }
}
