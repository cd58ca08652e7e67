import { rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { StateStore } from '../agent/store.js';
import { WallClock, type Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import { silentLogger } from '../logger.js';
import { formatZodIssues } from '../validation.js';
import { LogAccountRepository } from './accounts.js';
import { assertEmptyTarget, copyDocument, isInside, writeManifest, type BackupManifest } from './backup.js';
import { LogCandleRepository } from './candles.js';
import { DataArgumentError, DataCorruptedError, type DataWriteError } from './errors.js';
import { ensureDir, fsyncDir, type FsyncPolicy } from './fs-utils.js';
import { EventJournal, type JournalFilter, type JournalStats } from './journal.js';
import { acquireDirLock } from './lock.js';
import { LogOrderRepository } from './orders.js';
import { DocumentPositionRepository } from './positions.js';
import { LogAgentStateRepository, StateLog, type StateLogStats } from './state-log.js';
import { SegmentLog, copyPrefix, type BackupFile, type LogStats, type SegmentLogOptions, type VerifyProblem } from './segment-log.js';
import { LogTradeRepository } from './trades.js';
import { DurableJsonFile } from './durable-file.js';

/** Name under which the launcher registers the open store as a service (`services.get('data')`). */
export const DATA_STORE_SERVICE = 'data';

const optionsSchema = z.object({
  dir: z.string().min(1).optional(),
  fsync: z.enum(['always', 'batch', 'never']).optional(),
  fsyncIntervalMs: z.number().int().positive().optional(),
  verifyOnOpen: z.enum(['all', 'tail']).optional(),
  maxSegmentBytes: z.number().int().positive().optional(),
  blockBytes: z.number().int().positive().optional(),
  retentionCheckIntervalMs: z.number().int().positive().optional(),
  stateCompactBytes: z.number().int().positive().optional(),
  stateMaxQueuedBytes: z.number().int().positive().optional(),
  journal: z
    .object({
      enabled: z.boolean().optional(),
      types: z.array(z.string()).optional(),
      exclude: z.array(z.string()).optional(),
      maxSegmentBytes: z.number().int().positive().optional(),
      maxAgeDays: z.number().positive().optional(),
      maxTotalBytes: z.number().int().positive().optional(),
    })
    .optional(),
});

export interface DataStoreOptions {
  /** Data directory; relative paths resolve against the working directory. Default `./data`. */
  dir?: string;
  /** Default `batch`. */
  fsync?: FsyncPolicy;
  /** With `batch`: how often written data is synced (and acknowledged). Default 50 ms. */
  fsyncIntervalMs?: number;
  /** See SegmentLogOptions.verifyOnOpen. Default `tail`. */
  verifyOnOpen?: 'all' | 'tail';
  /** Segment size of the order, trade, account and candle logs. Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Index granularity of every log. Default 64 KiB. */
  blockBytes?: number;
  /** How often journal retention runs besides on open and after each sealed segment. Default 1 h. */
  retentionCheckIntervalMs?: number;
  /** The agent state log starts a new generation (snapshot + empty log) past this size. Default 16 MiB. */
  stateCompactBytes?: number;
  /** Bytes of agent state waiting for the disk before appends wait for room. Default 32 MiB. */
  stateMaxQueuedBytes?: number;
  /** The `data.journal` section of the config. */
  journal?: {
    enabled?: boolean;
    types?: string[];
    exclude?: string[];
    maxSegmentBytes?: number;
    maxAgeDays?: number | undefined;
    maxTotalBytes?: number | undefined;
  };
  logger?: Logger;
  /** Time for retention (segment age). Default wall clock. */
  clock?: Clock;
  /** Called when a log stops accepting writes (disk full, I/O error): alert someone. */
  onFailure?: (err: DataWriteError) => void;
}

export interface DataStoreStats {
  dir: string;
  journal: JournalStats;
  orders: LogStats;
  trades: LogStats;
  accounts: LogStats;
  state: StateLogStats;
}

export interface VerifyReport {
  ok: boolean;
  problems: VerifyProblem[];
}

/**
 * Everything the embedded data layer keeps, under one directory:
 *
 * ```
 * <dir>/journal/            event journal (segmented JSON Lines)
 * <dir>/orders/             every order state (segmented) + checkpoint.json of open orders
 * <dir>/trades/             closed trades (segmented)
 * <dir>/accounts/           account snapshots (segmented)
 * <dir>/candles/<s>@<tf>/   candles per symbol and timeframe (segmented)
 * <dir>/positions.json      current positions (lowdb document)
 * <dir>/state/              every agent's key-value state: one log of changes + snapshot
 * ```
 *
 * One process opens a directory at a time (a `.lock` file enforces it).
 */
export class DataStore {
  readonly dir: string;
  readonly journal: EventJournal;
  readonly orders: LogOrderRepository;
  readonly trades: LogTradeRepository;
  readonly accounts: LogAccountRepository;
  readonly candles: LogCandleRepository;
  readonly positions: DocumentPositionRepository;
  readonly agentState: LogAgentStateRepository;
  /** The process's log of agent (and paper venue) state: one group commit for every write. */
  readonly stateLog: StateLog;
  /** Per-agent state stores: pass as createSystem's `stateStore` option. */
  readonly stateStore: (agentId: string) => StateStore;
  private readonly logs: { journal: SegmentLog; orders: SegmentLog; trades: SegmentLog; accounts: SegmentLog };
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly retention: { maxAgeMs: number | undefined; maxTotalBytes: number | undefined };
  private readonly journalEnabled: boolean;
  private readonly releaseLock: () => Promise<void>;
  private retentionTimer: NodeJS.Timeout | undefined;
  private retentionRun: Promise<unknown> | undefined;
  private closing: Promise<void> | undefined;

  /** @internal use openDataStore */
  constructor(parts: {
    dir: string;
    logs: { journal: SegmentLog; orders: SegmentLog; trades: SegmentLog; accounts: SegmentLog };
    orders: LogOrderRepository;
    candles: LogCandleRepository;
    positions: DocumentPositionRepository;
    agentState: LogAgentStateRepository;
    journalFilter: JournalFilter;
    journalEnabled: boolean;
    retention: { maxAgeMs: number | undefined; maxTotalBytes: number | undefined };
    logger: Logger;
    clock: Clock;
    releaseLock: () => Promise<void>;
  }) {
    this.dir = parts.dir;
    this.logs = parts.logs;
    this.logger = parts.logger;
    this.clock = parts.clock;
    this.retention = parts.retention;
    this.journalEnabled = parts.journalEnabled;
    this.releaseLock = parts.releaseLock;
    this.journal = new EventJournal(parts.logs.journal, { logger: parts.logger, defaults: parts.journalFilter });
    this.orders = parts.orders;
    this.trades = new LogTradeRepository(parts.logs.trades);
    this.accounts = new LogAccountRepository(parts.logs.accounts);
    this.candles = parts.candles;
    this.positions = parts.positions;
    this.agentState = parts.agentState;
    this.stateLog = parts.agentState.log;
    this.stateStore = (agentId) => this.agentState.forAgent(agentId);
  }

  /** Whether the configuration asks for the journal to record the bus (`data.journal.enabled`). */
  get journalRecordingEnabled(): boolean {
    return this.journalEnabled;
  }

  /** @internal */
  startRetention(intervalMs: number): void {
    this.retentionTimer = setInterval(() => void this.applyRetention().catch(() => undefined), intervalMs);
    this.retentionTimer.unref();
  }

  /**
   * Deletes sealed journal segments older than `data.journal.maxAgeDays` and, oldest first,
   * while the journal is larger than `maxTotalBytes`. Runs on open, after each sealed journal
   * segment and periodically; call it to apply it now.
   */
  async applyRetention(): Promise<string[]> {
    if (this.retention.maxAgeMs === undefined && this.retention.maxTotalBytes === undefined) return [];
    while (this.retentionRun !== undefined) await this.retentionRun;
    const run = this.logs.journal.applyRetention({ ...this.retention, now: this.clock.now() });
    this.retentionRun = run.finally(() => (this.retentionRun = undefined));
    try {
      return await run;
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'journal retention failed');
      throw err;
    }
  }

  /** @internal called by the journal log after it seals a segment */
  onJournalSeal(): void {
    void this.applyRetention().catch(() => undefined);
  }

  /** Makes everything written so far durable now, whatever the fsync policy. */
  async flush(): Promise<void> {
    const candleLogs = await this.candles.openLogs();
    await Promise.all([...Object.values(this.logs), ...candleLogs].map((l) => l.flush()));
    await Promise.all([this.positions.file.flushNow(), this.stateLog.flush()]);
  }

  /**
   * Checks every record of every log and every document, and reports damage the logs do not know
   * of yet. With `repair`, damage in a sealed segment is recorded in its index (the damaged lines
   * are copied to a `.quarantine` file and skipped from then on; the records around them stay).
   * The state log is checked whole when the store is opened.
   */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyReport> {
    const problems: VerifyProblem[] = [];
    for (const log of [...Object.values(this.logs), ...(await this.candles.openAll())]) problems.push(...(await log.verify(options)));
    // The state log was checked when it was opened: a damaged record there refuses the open.
    for (const doc of [join(this.dir, 'positions.json')]) {
      try {
        await new DurableJsonFile(doc).read();
      } catch (err) {
        if (err instanceof DataCorruptedError) problems.push({ file: doc, offset: 0, reason: errorMessage(err) });
        else throw err;
      }
    }
    return { ok: problems.length === 0, problems };
  }

  /**
   * Writes a consistent copy of the store into `targetDir` (which must be new or empty) while
   * the store keeps running: every log is flushed and copied up to the point reached when its
   * copy started, sealed segments whole; documents are copied after their pending writes. Every
   * write acknowledged before `backup` was called is in the copy. The copy is assembled in
   * `<targetDir>.partial` and renamed into place when complete.
   */
  async backup(targetDir: string): Promise<BackupManifest> {
    const target = resolve(targetDir);
    if (isInside(target, this.dir) || isInside(this.dir, target)) {
      throw new DataArgumentError('backup: the target must be outside the data directory.', { dir: this.dir, targetDir: target });
    }
    await assertEmptyTarget(target, 'Backup target');
    const staging = `${target}.partial`;
    await rm(staging, { recursive: true, force: true });
    await ensureDir(staging);
    const files: BackupFile[] = [];
    await this.flush();
    // The order checkpoint first: it must not be ahead of the order log copied after it.
    for (const doc of ['orders/checkpoint.json', 'positions.json']) {
      const bytes = await copyDocument(join(this.dir, doc), join(staging, doc));
      if (bytes !== undefined) files.push({ path: doc, bytes });
    }
    // Agent state as far as it was durable when the copy started; no new generation meanwhile.
    const held = await this.stateLog.hold();
    try {
      await ensureDir(join(staging, 'state'));
      for (const f of held.files) {
        await copyPrefix(join(this.stateLog.dir, f.name), join(staging, 'state', f.name), f.bytes);
        files.push({ path: `state/${f.name}`, bytes: f.bytes });
      }
      await fsyncDir(join(staging, 'state'));
    } finally {
      held.release();
    }
    for (const [name, log] of Object.entries(this.logs)) files.push(...(await log.backupTo(join(staging, name), staging)));
    for (const log of await this.candles.openAll()) files.push(...(await log.backupTo(join(staging, relativeTo(this.dir, log.dir)), staging)));
    const manifest: BackupManifest = { version: 1, createdAt: new Date().toISOString(), source: this.dir, files };
    await writeManifest(staging, manifest);
    await fsyncDir(staging);
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
    await fsyncDir(dirname(target));
    this.logger.info({ target, files: files.length }, 'backup written');
    return manifest;
  }

  /**
   * Bytes accepted and not yet handed to the operating system, over every log and the state log:
   * how far the disk is behind the writers. A replay holds while it is large.
   */
  backlogBytes(): number {
    let bytes = this.stateLog.stats().queuedBytes;
    for (const log of Object.values(this.logs)) bytes += log.stats().queuedBytes;
    return bytes;
  }

  stats(): DataStoreStats {
    return {
      dir: this.dir,
      journal: this.journal.stats(),
      orders: this.logs.orders.stats(),
      trades: this.logs.trades.stats(),
      accounts: this.logs.accounts.stats(),
      state: this.stateLog.stats(),
    };
  }

  /** Flushes everything, writes the order checkpoint and indexes, closes files, releases the lock. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.retentionTimer !== undefined) clearInterval(this.retentionTimer);
      const errors: unknown[] = [];
      const attempt = async (fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          errors.push(err);
        }
      };
      await attempt(() => this.retentionRun ?? Promise.resolve());
      await attempt(() => this.orders.close());
      await Promise.all(Object.values(this.logs).map((l) => attempt(() => l.close())));
      await attempt(() => this.candles.close());
      await attempt(() => this.positions.file.flushNow());
      await attempt(() => this.stateLog.close());
      await this.releaseLock();
      if (errors.length > 0) throw errors[0];
    })();
    return this.closing;
  }
}

function relativeTo(root: string, path: string): string {
  return path.slice(root.length + 1).split('\\').join('/');
}

/**
 * Opens the data store in `dir` (created if missing), recovering from whatever a crash left:
 * torn log tails are quarantined, open orders are rebuilt from the checkpoint and the order log.
 *
 * ```ts
 * const store = await openDataStore({ ...config.data, logger });
 * const system = createSystem({ stateStore: store.stateStore, services: { [DATA_STORE_SERVICE]: store } });
 * store.journal.attach(system.createBus('journal'));
 * ```
 */
export async function openDataStore(options: DataStoreOptions = {}): Promise<DataStore> {
  const { logger: givenLogger, clock: givenClock, onFailure, ...plain } = options;
  const parsed = optionsSchema.safeParse(plain);
  if (!parsed.success) {
    const issues = formatZodIssues(parsed.error.issues);
    throw new DataArgumentError(`Invalid data store options: ${issues.map((i) => `data.${i.path}: ${i.message}`).join('; ')}`, { issues });
  }
  const o = parsed.data;
  const dir = resolve(o.dir ?? './data');
  const logger = (givenLogger ?? silentLogger()).child({ component: 'data' });
  const clock = givenClock ?? new WallClock();
  const fsync = o.fsync ?? 'batch';
  const fsyncIntervalMs = o.fsyncIntervalMs ?? 50;
  const common: Omit<SegmentLogOptions, 'dir'> = {
    fsync,
    fsyncIntervalMs,
    verifyOnOpen: o.verifyOnOpen ?? 'tail',
    maxSegmentBytes: o.maxSegmentBytes ?? 64 * 1024 * 1024,
    blockBytes: o.blockBytes ?? 64 * 1024,
    logger,
    onFailure: (err) => {
      logger.fatal({ err: errorMessage(err) }, 'data store write failure: restart once the cause is fixed');
      onFailure?.(err);
    },
  };
  const docOptions = { fsync, fsyncIntervalMs };

  await ensureDir(dir);
  const releaseLock = await acquireDirLock(dir);
  const opened: SegmentLog[] = [];
  const closers: Array<() => Promise<void>> = [];
  const openLog = async (name: string, extra: Partial<SegmentLogOptions> = {}): Promise<SegmentLog> => {
    const log = await SegmentLog.open({ ...common, ...extra, dir: join(dir, name), label: name });
    opened.push(log);
    return log;
  };
  try {
    let store: DataStore | undefined;
    const journalLog = await openLog('journal', {
      maxSegmentBytes: o.journal?.maxSegmentBytes ?? 64 * 1024 * 1024,
      onSeal: () => store?.onJournalSeal(),
    });
    const logs = { journal: journalLog, orders: await openLog('orders'), trades: await openLog('trades'), accounts: await openLog('accounts') };
    const orders = await LogOrderRepository.open(logs.orders, { ...docOptions, logger });
    const positions = await DocumentPositionRepository.open(join(dir, 'positions.json'), docOptions);
    const stateLog = await StateLog.open({
      dir: join(dir, 'state'),
      fsync,
      compactAfterBytes: o.stateCompactBytes,
      maxQueuedBytes: o.stateMaxQueuedBytes,
      logger,
      onFailure: common.onFailure,
    });
    closers.push(() => stateLog.close());
    const agentState = new LogAgentStateRepository(stateLog);
    const candles = new LogCandleRepository(join(dir, 'candles'), { ...common, maxSegmentBytes: Math.min(common.maxSegmentBytes!, 16 * 1024 * 1024) });
    store = new DataStore({
      dir,
      logs,
      orders,
      candles,
      positions,
      agentState,
      journalFilter: { types: o.journal?.types, exclude: o.journal?.exclude ?? ['agent.heartbeat', 'price.tick', 'candle.updated'] },
      journalEnabled: o.journal?.enabled ?? true,
      retention: {
        maxAgeMs: o.journal?.maxAgeDays === undefined ? undefined : o.journal.maxAgeDays * 86_400_000,
        maxTotalBytes: o.journal?.maxTotalBytes,
      },
      logger,
      clock,
      releaseLock,
    });
    await store.applyRetention();
    store.startRetention(o.retentionCheckIntervalMs ?? 3_600_000);
    logger.info({ dir, fsync, journal: journalLog.stats().records, openOrders: (await orders.listOpen()).length }, 'data store open');
    return store;
  } catch (err) {
    await Promise.all(opened.map((l) => l.close().catch(() => undefined)));
    for (const close of closers) await close().catch(() => undefined);
    await releaseLock();
    throw err;
  }
}
