import type { Low } from 'lowdb';
import { z } from 'zod';
import { builtinEvents } from '../events/builtin.js';
import { DataCorruptedError } from './errors.js';
import { openDocument, type DurableJsonFile, type DurableJsonFileOptions } from './durable-file.js';
import type { PositionRecord, PositionRepository } from './repositories.js';
import { validateRecord } from './validate.js';

const documentSchema = z.object({
  version: z.literal(1),
  positions: z.record(z.string(), builtinEvents['position.updated']),
});
type PositionsDocument = z.output<typeof documentSchema>;

/**
 * Current positions, one per symbol, in a small lowdb document rewritten atomically on each
 * change. Small by nature (one entry per traded symbol), so a whole-file rewrite stays cheap.
 */
export class DocumentPositionRepository implements PositionRepository {
  private constructor(
    private readonly db: Low<PositionsDocument>,
    readonly file: DurableJsonFile<PositionsDocument>,
  ) {}

  static async open(path: string, options: DurableJsonFileOptions = {}): Promise<DocumentPositionRepository> {
    const { db, file } = await openDocument<PositionsDocument>(path, { version: 1, positions: {} }, options);
    const parsed = documentSchema.safeParse(db.data);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new DataCorruptedError(path, `unexpected content at '${first?.path.join('.') ?? ''}': ${first?.message ?? 'invalid'}`);
    }
    db.data = parsed.data;
    return new DocumentPositionRepository(db, file);
  }

  async get(symbol: string): Promise<PositionRecord | undefined> {
    const p = this.db.data.positions[symbol];
    return p === undefined ? undefined : structuredClone(p);
  }

  async list(): Promise<PositionRecord[]> {
    return Object.keys(this.db.data.positions)
      .sort()
      .map((s) => structuredClone(this.db.data.positions[s]!));
  }

  async listOpen(): Promise<PositionRecord[]> {
    return (await this.list()).filter((p) => p.side !== 'flat' && p.quantity > 0);
  }

  async upsert(position: PositionRecord): Promise<void> {
    const valid = validateRecord(builtinEvents['position.updated'], position, `position '${position?.symbol ?? '?'}'`);
    this.db.data.positions[valid.symbol] = valid;
    await this.db.write();
  }

  async remove(symbol: string): Promise<void> {
    if (!(symbol in this.db.data.positions)) return;
    delete this.db.data.positions[symbol];
    await this.db.write();
  }

  async replaceAll(positions: PositionRecord[]): Promise<void> {
    const next: Record<string, PositionRecord> = {};
    for (const p of positions) {
      const valid = validateRecord(builtinEvents['position.updated'], p, `position '${p?.symbol ?? '?'}'`);
      next[valid.symbol] = valid;
    }
    this.db.data.positions = next;
    await this.db.write();
  }
}
