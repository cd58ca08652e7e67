import { formatZodIssues, openDocument } from '@tradebus/core';
import { z } from 'zod';
import { ModelRegistryError } from './errors.js';

export const modelStatusSchema = z.enum(['active', 'shadow', 'retired']);
export type ModelStatus = z.output<typeof modelStatusSchema>;

const metricsSchema = z.object({
  outcomes: z.number().int().nonnegative(),
  accuracy: z.number().min(0).max(1).nullable(),
  brier: z.number().min(0).max(1).nullable(),
  /** Outcomes ever scored (the window holds the last `outcomes`). */
  total: z.number().int().nonnegative().default(0),
});
export type ModelMetrics = z.output<typeof metricsSchema>;

export const modelRecordSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  status: modelStatusSchema,
  /** The features the version was trained on, in order: a runner refuses a version whose list differs from its pipeline's. */
  features: z.array(z.string().min(1)).min(1),
  /** Where the version is served from, as configured (kept for people reading the registry). */
  source: z.record(z.string(), z.unknown()).optional(),
  metrics: metricsSchema,
  createdAt: z.number(),
  history: z.array(z.object({ at: z.number(), status: modelStatusSchema, reason: z.string() })),
});
export type ModelRecord = z.output<typeof modelRecordSchema>;

const documentSchema = z.object({ models: z.array(modelRecordSchema) });
type RegistryDocument = z.output<typeof documentSchema>;
/** Where the document lives: a lowdb file, or nowhere (a backtest starts from a clean registry every run). */
interface RegistryDb {
  data: RegistryDocument;
  write(): Promise<void>;
}

export interface RegisterInput {
  name: string;
  version: string;
  features: readonly string[];
  /** Status of a new version; ignored for a version already registered (its stored status wins). */
  status: ModelStatus;
  source?: Record<string, unknown>;
}

/**
 * The versions of every model and their status, in a small lowdb document in the data
 * directory (`models.json`): active versions trade, shadow versions are run and scored but never
 * trade, retired ones are not run. Per name at most one version is active. Promotions and
 * demotions are kept with their reasons, so a restart resumes where the system left off and a
 * person can read why a version is where it is.
 */
export class ModelRegistry {
  private constructor(
    /** The file, or undefined for a registry kept in memory. */
    readonly file: string | undefined,
    private readonly db: RegistryDb,
  ) {}

  /** A registry that lives as long as the process: for backtests, whose runs must not teach each other. */
  static inMemory(): ModelRegistry {
    return new ModelRegistry(undefined, { data: { models: [] }, write: async () => {} });
  }

  static async open(file: string): Promise<ModelRegistry> {
    const { db } = await openDocument<RegistryDocument>(file, { models: [] }, { fsync: 'always' });
    const parsed = documentSchema.safeParse(db.data);
    if (!parsed.success) {
      const issue = formatZodIssues(parsed.error.issues)[0]!;
      throw new ModelRegistryError('MODEL_REGISTRY_INVALID', `Model registry ${file} is not valid: ${issue.path} ${issue.message}. Fix or move the file; it is created again when missing.`, { cause: parsed.error });
    }
    db.data = parsed.data;
    return new ModelRegistry(file, db);
  }

  list(name?: string): ModelRecord[] {
    return this.db.data.models.filter((m) => name === undefined || m.name === name).map((m) => structuredClone(m));
  }

  get(name: string, version: string): ModelRecord | undefined {
    const found = this.find(name, version);
    return found === undefined ? undefined : structuredClone(found);
  }

  active(name: string): ModelRecord | undefined {
    const found = this.db.data.models.find((m) => m.name === name && m.status === 'active');
    return found === undefined ? undefined : structuredClone(found);
  }

  /**
   * Registers a version, or returns the stored one. A version already known must keep its
   * feature list: a model retrained on other features is a new version.
   */
  async register(input: RegisterInput, at: number): Promise<ModelRecord> {
    const known = this.find(input.name, input.version);
    if (known !== undefined) {
      if (known.features.join('\u0000') !== input.features.join('\u0000')) {
        throw new ModelRegistryError(
          'MODEL_REGISTRY_CONFLICT',
          `Model '${input.name}' version ${input.version} is registered with features [${known.features.join(', ')}], not [${input.features.join(', ')}]: a model trained on other features needs a new version.`,
        );
      }
      return structuredClone(known);
    }
    const record: ModelRecord = {
      name: input.name,
      version: input.version,
      status: input.status,
      features: [...input.features],
      ...(input.source === undefined ? {} : { source: input.source }),
      metrics: { outcomes: 0, accuracy: null, brier: null, total: 0 },
      createdAt: at,
      history: [{ at, status: input.status, reason: 'registered' }],
    };
    if (input.status === 'active') this.retireActive(input.name, at, `version ${input.version} registered as active`);
    this.db.data.models.push(record);
    await this.db.write();
    return structuredClone(record);
  }

  /** Moves a version to `status`; making one active moves the active version of that name to shadow. */
  async setStatus(name: string, version: string, status: ModelStatus, reason: string, at: number): Promise<ModelRecord> {
    const record = this.find(name, version);
    if (record === undefined) {
      const known = this.list(name).map((m) => m.version);
      throw new ModelRegistryError('MODEL_REGISTRY_UNKNOWN', `Model '${name}' has no version ${version} in the registry${known.length > 0 ? ` (versions: ${known.join(', ')})` : ''}.`);
    }
    if (record.status === status) return structuredClone(record);
    if (status === 'active') this.retireActive(name, at, `version ${version} promoted: ${reason}`, 'shadow');
    record.status = status;
    record.history.push({ at, status, reason });
    await this.db.write();
    return structuredClone(record);
  }

  /** Stores a version's latest scores. Called every so many outcomes, not per bar: the file is rewritten whole. */
  async saveMetrics(entries: ReadonlyArray<{ name: string; version: string; metrics: ModelMetrics }>): Promise<void> {
    let changed = false;
    for (const { name, version, metrics } of entries) {
      const record = this.find(name, version);
      if (record === undefined) continue;
      record.metrics = { ...metrics };
      changed = true;
    }
    if (changed) await this.db.write();
  }

  private find(name: string, version: string): ModelRecord | undefined {
    return this.db.data.models.find((m) => m.name === name && m.version === version);
  }

  private retireActive(name: string, at: number, reason: string, to: ModelStatus = 'retired'): void {
    for (const m of this.db.data.models) {
      if (m.name === name && m.status === 'active') {
        m.status = to;
        m.history.push({ at, status: to, reason });
      }
    }
  }
}
