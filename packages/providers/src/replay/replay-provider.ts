import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, resolve as resolvePath } from 'node:path';
import { silentLogger, toError, TradebusError, VirtualClock, type Clock, type Logger, type StateStore } from '@tradebus/core';
import type { Candle, DataGap, Provider } from '../types.js';
import { canonicalSymbol } from '../util/symbols.js';
import { MarketTimeline, type TimelineRecord, type TimelineSummary } from '../util/timeline.js';
import { TimelineProvider } from '../util/timeline-provider.js';
import { timeframeToMs } from '../util/timeframes.js';
import { parseCandleFile, parseTrades } from './parse.js';

export type ReplaySource =
  | { type: 'candles'; file: string; symbol: string; timeframe: string; format?: 'csv' | 'json' | undefined }
  | { type: 'trades'; file: string; symbol: string; format?: 'csv' | 'json' | undefined };

export interface ReplayProviderOptions {
  id?: string;
  venue?: string;
  /** A VirtualClock for backtests (advanced to each record's time); with a WallClock the replay waits for real time. */
  clock: Clock;
  logger?: Logger;
  sources: ReplaySource[];
  /** Relative file paths are resolved against this directory (the config file's), else the working directory. */
  baseDir?: string;
  /** `max` (default) or a multiple of real time for demos: 1, 60, 3600... */
  speed?: number | 'max';
  /** Longest wall-clock pause between two records at a speed factor; longer data gaps are shortened to it. */
  maxPauseMs?: number;
  /** Records up to this time are history (served by fetchOHLCV), not played. */
  startAt?: number;
  /** Alternative to `startAt`: hold back the first N bars of every candle source as history. */
  warmupBars?: number;
  /** Records after this time are left out. */
  endAt?: number;
  /**
   * Where the replay keeps how far it has played. With a store, a restarted replay resumes after
   * the last moment it played (the market time of the restored agents) instead of starting over;
   * what it played before is history. `resume: false` starts from the beginning regardless.
   */
  store?: StateStore | undefined;
  resume?: boolean;
  /** Pacing hooks, replaceable for tests. */
  wallSleep?: (ms: number) => Promise<void>;
  wallNow?: () => number;
}

type PlayRecord = TimelineRecord | { kind: 'gap'; time: number; gap: DataGap };

const POSITION_KEY = 'position';

/** The moment a replay was playing; `sources` tells a position of other data from its own. */
interface ReplayPosition {
  moment: number;
  sources: string;
}

/**
 * Market data from files: candles (CSV/JSON) and tick-level trades, several symbols merged in
 * time order, played on a virtual clock as fast as consumers keep up, or at a speed factor for
 * demos. A bar is played at its close time; a trade at its own time. Missing bars are reported
 * (`gaps()`, the `gap` listener, a warning in the log), never invented.
 */
export class ReplayProvider extends TimelineProvider implements Provider {
  readonly kind = 'replay' as const;
  readonly id: string;
  readonly venue: string;
  private readonly options: ReplayProviderOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  protected readonly timeline: MarketTimeline;
  private loading: Promise<void> | undefined;
  private future: PlayRecord[] = [];
  private start_: number | undefined;
  private toPlay: number | undefined;
  private resumedFrom: number | undefined;

  constructor(options: ReplayProviderOptions) {
    super();
    if (options.sources.length === 0) throw new TradebusError('REPLAY_NO_SOURCES', 'A replay needs at least one data source: list files under sources.');
    this.options = options;
    this.id = options.id ?? 'replay';
    this.venue = options.venue ?? this.id;
    this.clock = options.clock;
    this.logger = (options.logger ?? silentLogger()).child({ provider: this.id });
    this.timeline = new MarketTimeline({
      id: this.id,
      clock: options.clock,
      logger: options.logger,
      speed: options.speed,
      maxPauseMs: options.maxPauseMs,
      wallSleep: options.wallSleep,
      wallNow: options.wallNow,
      onMoment: options.store === undefined ? undefined : (time) => this.savePosition(time),
    });
    for (const s of options.sources) this.timeline.registerSymbol(canonicalSymbol(s.symbol), s.type === 'candles' ? s.timeframe : undefined);
  }

  /** The moment a restarted replay resumed at (played again), when it did. */
  get resumedAt(): number | undefined {
    return this.resumedFrom;
  }

  /** Time of the replay position when it starts (after `load()`): the end of the history part. */
  get startTime(): number | undefined {
    return this.start_;
  }

  /**
   * Reads and checks every file, splits history from what is to be played, and moves a virtual
   * clock that is behind to the start (call it before agents start timers on that clock).
   */
  load(): Promise<void> {
    this.loading ??= this.loadFiles();
    return this.loading;
  }

  /** Bars and trades the replay will play (once loaded): for progress bars. */
  get recordsToPlay(): number | undefined {
    return this.toPlay;
  }

  /** Plays the data to the end (or `stop()`); watchers' streams end afterwards. Starting twice returns the same run. */
  start(): Promise<TimelineSummary> {
    this.running ??= (async () => {
      await this.load();
      const records = this.future;
      this.future = [];
      const timeline = this.timeline;
      const summary = await timeline.run(
        (function* () {
          for (const r of records) {
            if (r.kind === 'gap') {
              timeline.reportGap(r.gap);
              continue;
            }
            yield r;
          }
        })(),
      );
      this.logger.info({ records: summary.records, gaps: summary.gaps.length }, 'replay finished');
      return summary;
    })();
    return this.running;
  }

  protected override ready(): Promise<void> {
    return this.load();
  }

  private async loadFiles(): Promise<void> {
    // One list per source, each already in time order (the parser insists on it).
    const lists: PlayRecord[][] = [];
    const warmupEnds: number[] = [];
    for (const [index, source] of this.options.sources.entries()) {
      const path = isAbsolute(source.file) ? source.file : resolvePath(this.options.baseDir ?? process.cwd(), source.file);
      const format = source.format ?? (extname(path).toLowerCase() === '.json' ? 'json' : 'csv');
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        throw new TradebusError('REPLAY_FILE_UNREADABLE', `${this.id}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Check sources[${index}].file.`, {
          cause: err,
        });
      }
      const symbol = canonicalSymbol(source.symbol);
      const list: PlayRecord[] = [];
      if (source.type === 'candles') {
        const tfMs = timeframeToMs(source.timeframe);
        const bars = parseCandleFile(path, bytes, format, symbol, source.timeframe);
        if (this.options.warmupBars !== undefined && bars.length > 0) {
          const last = bars[Math.min(this.options.warmupBars, bars.length) - 1];
          if (last !== undefined) warmupEnds.push(last.timestamp + tfMs);
        }
        let previous: Candle | undefined;
        for (const bar of bars) {
          if (previous !== undefined && bar.timestamp - previous.timestamp > tfMs) {
            const missing = Math.round((bar.timestamp - previous.timestamp) / tfMs) - 1;
            const gap: DataGap = { symbol, timeframe: source.timeframe, from: previous.timestamp + tfMs, to: bar.timestamp - tfMs, missingBars: missing };
            // Known once the first missing bar should have closed.
            list.push({ kind: 'gap', time: gap.from + tfMs, gap });
          }
          list.push({ kind: 'candle', time: bar.timestamp + tfMs, candle: bar });
          previous = bar;
        }
      } else {
        for (const tick of parseTrades(path, bytes.toString('utf8'), format, symbol)) list.push({ kind: 'trade', time: tick.timestamp, tick });
      }
      lists.push(list);
    }
    const all = mergeByTime(lists);
    let startAt = this.options.startAt ?? (warmupEnds.length > 0 ? Math.max(...warmupEnds) : undefined);
    const resumeAt = await this.restoredPosition();
    let history = (time: number): boolean => startAt !== undefined && time <= startAt;
    if (resumeAt !== undefined && (startAt === undefined || resumeAt > startAt)) {
      // The moment the replay was playing is played again (agents recognise what they have
      // already seen of it); everything before it is history. The clock starts at that moment, so
      // it is never behind what the restored agents have seen.
      startAt = resumeAt;
      this.resumedFrom = resumeAt;
      history = (time) => time < resumeAt;
    }
    const endAt = this.options.endAt ?? Number.POSITIVE_INFINITY;
    for (const record of all) {
      if (record.time > endAt) break;
      if (history(record.time)) {
        if (record.kind === 'gap') this.timeline.reportGap(record.gap);
        else this.timeline.addHistory(record);
        continue;
      }
      this.future.push(record);
    }
    this.start_ = startAt ?? this.future[0]?.time;
    this.toPlay = this.future.reduce((n, r) => (r.kind === 'gap' ? n : n + 1), 0);
    if (this.start_ !== undefined && this.clock instanceof VirtualClock && this.clock.now() < this.start_) {
      if (this.clock.pendingTimers > 0) {
        this.logger.warn({ from: this.clock.now(), to: this.start_ }, 'moving a virtual clock with pending timers to the replay start; create the clock at the start time or load the replay before starting agents');
      }
      this.clock.advanceTo(this.start_);
    }
    this.logger.info({ sources: this.options.sources.length, history: all.length - this.future.length, toPlay: this.future.length }, 'replay data loaded');
    if (this.resumedFrom !== undefined) {
      const at = new Date(this.resumedFrom).toISOString();
      this.logger.info({ resumesAt: at, toPlay: this.toPlay }, `replay resumes at ${at}, where it stopped; start over with a fresh data directory (or resume: false)`);
    }
  }

  /** What a previous run of this replay played through, when it should resume there. */
  private async restoredPosition(): Promise<number | undefined> {
    const store = this.options.store;
    if (store === undefined || this.options.resume === false) return undefined;
    const saved = await store.get<ReplayPosition>(POSITION_KEY);
    if (saved === undefined) return undefined;
    if (saved.sources !== this.sourcesKey() || !Number.isFinite(saved.moment)) {
      this.logger.warn({ saved: saved.sources }, 'the stored replay position belongs to other data files: playing from the start');
      return undefined;
    }
    return saved.moment;
  }

  private sourcesKey(): string {
    return this.options.sources.map((s) => `${s.type}:${canonicalSymbol(s.symbol)}:${s.type === 'candles' ? s.timeframe : ''}:${s.file}`).join('|');
  }

  /**
   * Records the moment about to be played, before any of its records goes out: not awaited, it
   * is written ahead of anything an agent writes about the moment (the state log keeps the order
   * of writes), so restored agents are never ahead of it. A restart plays that moment again,
   * which the agents recognise (bars by time, signals by id); it never skips one.
   */
  private savePosition(time: number): void {
    const position: ReplayPosition = { moment: time, sources: this.sourcesKey() };
    // In the background: it rides with the first write the moment causes, ahead of it.
    this.options.store!.set(POSITION_KEY, position, { background: true }).catch((err: unknown) => {
      this.logger.warn({ err: toError(err) }, 'replay position not saved; a restart may play the last moments again');
    });
  }
}

/**
 * Merges lists that are each in time order into one, in time order; records of the same time
 * keep the order of their lists (the order of the sources in the config), then their own order.
 */
function mergeByTime(lists: PlayRecord[][]): PlayRecord[] {
  if (lists.length === 1) return lists[0]!;
  const out: PlayRecord[] = new Array<PlayRecord>(lists.reduce((n, l) => n + l.length, 0));
  const cursor = new Array<number>(lists.length).fill(0);
  for (let k = 0; k < out.length; k++) {
    let best = -1;
    let bestTime = Number.POSITIVE_INFINITY;
    for (let i = 0; i < lists.length; i++) {
      const r = lists[i]![cursor[i]!];
      if (r !== undefined && r.time < bestTime) {
        best = i;
        bestTime = r.time;
      }
    }
    out[k] = lists[best]![cursor[best]!++]!;
  }
  return out;
}
