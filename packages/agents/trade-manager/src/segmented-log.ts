import type { StateStore } from '@tradebus/core';

/** What the agent's main state key holds of a SegmentedLog. */
export interface SegmentedLogSnapshot<T> {
  /** The newest items, not yet moved into a segment. */
  recent: T[];
  /** Segments `first` to `next - 1` hold the older items, oldest first (segments are added at the end and dropped at the start). */
  first: number;
  /** Sequence number of the next segment. */
  next: number;
  /** Sequence numbers of the segments, as an earlier build wrote them. */
  segments?: number[];
}

/** Segment writes to make before the main key that lists them; `commit()` once they are written. */
export interface SealPlan<T> {
  writes: Array<{ key: string; items: T[] }>;
  /** Moves the written items out of the recent list, drops old segments, returns the keys to delete after the main key is written. */
  commit(): string[];
}

export interface SegmentedLogPolicy<T> {
  /** Whether the oldest segment is no longer needed. */
  droppable(oldest: readonly T[]): boolean;
  /** Called for every item appended or loaded, and for every segment dropped. */
  added?(item: T): void;
  dropped?(items: readonly T[]): void;
}

/**
 * An append-only list persisted at a cost that does not grow with its length: the newest items
 * travel in the agent's main state key, and each `segmentSize` of them move together into a key
 * of their own, written once. A segment is written before the main key that lists it and deleted
 * only after a main key that no longer lists it is written, so at every moment each item is on
 * disk in the main key or in a segment the main key lists, and a crash between two writes leaves
 * at most an unlisted segment, deleted on the next load.
 */
export class SegmentedLog<T> {
  private recent: T[] = [];
  private segments: Array<{ seq: number; items: T[] }> = [];
  private next = 0;

  constructor(
    /** Segment keys are `<prefix><sequence number>`. */
    readonly prefix: string,
    readonly segmentSize: number,
    private readonly policy: SegmentedLogPolicy<T>,
  ) {}

  append(item: T): void {
    this.recent.push(item);
    this.policy.added?.(item);
  }

  /** Full segments to write before the main key. */
  seal(): SealPlan<T> {
    const full = Math.floor(this.recent.length / this.segmentSize);
    const writes: SealPlan<T>['writes'] = [];
    for (let i = 0; i < full; i++) {
      writes.push({ key: this.prefix + (this.next + i), items: this.recent.slice(i * this.segmentSize, (i + 1) * this.segmentSize) });
    }
    return {
      writes,
      commit: () => {
        for (let i = 0; i < writes.length; i++) this.segments.push({ seq: this.next + i, items: writes[i]!.items });
        this.next += writes.length;
        this.recent = this.recent.slice(full * this.segmentSize);
        const dropped: string[] = [];
        while (this.segments.length > 0 && this.policy.droppable(this.segments[0]!.items)) {
          const oldest = this.segments.shift()!;
          this.policy.dropped?.(oldest.items);
          dropped.push(this.prefix + oldest.seq);
        }
        return dropped;
      },
    };
  }

  snapshot(): SegmentedLogSnapshot<T> {
    return { recent: this.recent, first: this.segments[0]?.seq ?? this.next, next: this.next };
  }

  /** Every item, oldest first. */
  items(): T[] {
    return [...this.segments.flatMap((s) => s.items), ...this.recent];
  }

  /**
   * Restores a log from its snapshot and the segments it lists (items for which `keep` says no are
   * left out), and deletes segment keys it does not list. Without a snapshot the log is empty.
   */
  static async load<T>(
    store: StateStore,
    keys: readonly string[],
    prefix: string,
    segmentSize: number,
    policy: SegmentedLogPolicy<T>,
    snapshot: SegmentedLogSnapshot<T> | undefined,
    keep: (item: T) => boolean = () => true,
  ): Promise<SegmentedLog<T>> {
    const log = new SegmentedLog<T>(prefix, segmentSize, policy);
    const listed = new Set<string>();
    if (snapshot !== undefined) {
      log.next = snapshot.next;
      const seqs: number[] = snapshot.segments ?? [];
      if (snapshot.segments === undefined) for (let seq = snapshot.first; seq < snapshot.next; seq++) seqs.push(seq);
      for (const seq of seqs) {
        const key = prefix + seq;
        listed.add(key);
        const items: T[] = [];
        for (const item of (await store.get<T[]>(key)) ?? []) {
          if (!keep(item)) continue;
          items.push(item);
          policy.added?.(item);
        }
        log.segments.push({ seq, items });
      }
      for (const item of snapshot.recent) if (keep(item)) log.append(item);
    }
    for (const key of keys) {
      if (key.startsWith(prefix) && !listed.has(key)) await store.delete(key);
    }
    return log;
  }
}
