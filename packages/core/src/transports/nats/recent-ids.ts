/**
 * The ids of the most recent events a subscriber has seen, bounded in size: a redelivered
 * JetStream message, or a publisher's retry that got through twice, is recognised and dropped.
 * Insertion order of a Map gives the eviction order for free.
 */
export class RecentIds {
  private readonly ids = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  /** Records `id`; returns false when it was already there (a repeat). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Forgets `id`, so a later redelivery is handled (used when handling could not start). */
  delete(id: string): void {
    this.ids.delete(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
