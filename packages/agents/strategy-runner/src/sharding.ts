import { z } from 'zod';
import { NatsTransport, ShardLeases, shardInstanceName, shardLeaseSettings, followStream, type Envelope, type ShardReport, type Logger, type StreamFeed, type Transport } from '@tradebus/core';

export const shardingSchema = z
  .strictObject({
    ...shardLeaseSettings('runners'),
    from: z
      .union([z.enum(['all', 'new']), z.number().int().nonnegative()])
      .default('all')
      .describe(
        "Where a runner starts reading candle.closed from the stream: 'all' it holds, 'new', or an epoch-ms time. A runner taking a symbol over replays that symbol's bars it kept (up to the previous owner's checkpoint) without publishing, so it continues exactly where the other stopped",
      ),
    keepBars: z.number().int().positive().default(20_000).describe("Bars kept per symbol and timeframe the runner does not own, to take it over; beyond it the oldest go and a takeover continues from an incomplete series (SHARD_TAKEOVER_INCOMPLETE)"),
  })
  .describe(
    'Run several runner processes that share the symbols: each symbol is owned by one at a time (leases in JetStream), handed over on join, leave or crash. Needs the NATS transport with candle.closed in transport.durable',
  );

export type ShardingConfig = z.output<typeof shardingSchema>;

/** The state of one symbol and timeframe that sharding needs from the runner. */
export interface ShardedSeries<C> {
  symbol: string;
  timeframe: string;
  /** False while another instance owns the symbol: bars are kept, not processed. */
  owned: boolean;
  /** Bars after this time are published; bars up to it only bring the strategies up to date. */
  silentUpTo: number | undefined;
  lastBar: number | undefined;
  /** Bars kept while not owned, oldest first. */
  kept: Array<{ candle: C; envelope: Envelope | undefined }>;
  keptDropped: number;
}

export interface RunnerShardsOptions<C> {
  config: ShardingConfig;
  agentId: string;
  transport: Transport;
  series: ReadonlyArray<ShardedSeries<C>>;
  logger: Logger;
  /** Feeds one bar to the runner (as a bus delivery would). */
  onCandle: (payload: unknown, envelope: Envelope) => void;
  /** Runs a bar through the series: silently up to `silentUpTo`, published after it. */
  consume: (series: ShardedSeries<C>, candle: C, envelope: Envelope | undefined) => void;
  alert: (code: string, message: string, details: Record<string, unknown>) => void;
}

const checkpointSchema = z.record(z.string(), z.number());

/**
 * Shares the runner's symbols with the other instances of the same agent id. Each instance reads
 * every closed candle from the JetStream stream in order (an ordered consumer), processes the
 * symbols it owns and keeps the bars of the others. Taking a symbol over, it brings that
 * symbol's strategies up to the previous owner's checkpoint (the last bar it processed, per
 * timeframe) on the kept bars without publishing, then publishes from the next bar on: no bar
 * is skipped, and none is processed twice except those a crashed owner processed after its last
 * checkpoint, whose signals go out again with the same signal ids (the trade manager decides a
 * signal id once).
 */
export class RunnerShards<C extends { timestamp: number }> {
  private leases: ShardLeases | undefined;
  private feed: StreamFeed | undefined;
  readonly instance: string;

  constructor(private readonly options: RunnerShardsOptions<C>) {
    this.instance = shardInstanceName(options.config.instance);
    for (const s of options.series) s.owned = false;
  }

  async start(): Promise<void> {
    const { config, series } = this.options;
    const symbols = [...new Set(series.map((s) => s.symbol))];
    this.leases = await this.retry('lease bucket', () => ShardLeases.open({
      transport: this.options.transport,
      group: this.options.agentId,
      instance: this.instance,
      keys: symbols,
      leaseTtlMs: config.leaseTtlMs,
      ...(config.renewIntervalMs === undefined ? {} : { renewIntervalMs: config.renewIntervalMs }),
      logger: this.options.logger,
      acquire: (symbol, checkpoint) => this.take(symbol, checkpoint),
      release: (symbol) => this.give(symbol),
    }));
    this.feed = await this.retry('candle stream', () =>
      followStream({ transport: this.options.transport, type: 'candle.closed', from: config.from, onEvent: (e) => this.options.onCandle(e.payload, e) }),
    );
    await this.leases.start();
  }

  /**
   * While the cluster elects new leaders after losing a node, JetStream requests time out for a
   * few seconds: starting is retried meanwhile (a setting error is not).
   */
  private async retry<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 60_000;
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'SHARDING_NEEDS_NATS' || code === 'SHARDING_EVENT_NOT_DURABLE' || code === 'SHARDING_INSTANCE_INVALID' || Date.now() > deadline) throw err;
        this.options.logger.warn({ err, what, attempt: n + 1 }, 'sharding not ready yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2_000, 200 * 2 ** Math.min(n, 4))));
      }
    }
  }

  async stop(): Promise<void> {
    await this.feed?.stop();
    await this.leases?.stop();
  }

  report(): ShardReport | undefined {
    return this.leases?.report();
  }

  /** True when the bar was kept for a later takeover (the symbol is another instance's). */
  keep(series: ShardedSeries<C>, candle: C, envelope: Envelope | undefined): boolean {
    if (series.owned) return false;
    if (series.lastBar !== undefined && candle.timestamp <= series.lastBar) return true;
    const last = series.kept.at(-1);
    if (last !== undefined && candle.timestamp <= last.candle.timestamp) return true;
    series.kept.push({ candle, envelope });
    if (series.kept.length > this.options.config.keepBars) {
      series.kept.shift();
      series.keptDropped++;
    }
    return true;
  }

  /**
   * After an owned bar went through: the symbol's checkpoint is the last bar per timeframe. It is
   * saved once the signals and indicators the bar produced are stored (durable events); if one
   * of them was not, the checkpoint stays behind and the next owner processes the bar again.
   */
  processed(symbol: string): Promise<void> {
    const leases = this.leases;
    if (leases === undefined) return Promise.resolve();
    const checkpoint: Record<string, number> = {};
    for (const s of this.options.series) if (s.symbol === symbol && s.lastBar !== undefined) checkpoint[s.timeframe] = s.lastBar;
    const transport = this.options.transport;
    const stored = transport instanceof NatsTransport ? transport.durablePublished() : Promise.resolve(true);
    return stored.then((ok) => (ok && !this.unsaved.has(symbol) ? leases.saveCheckpoint(symbol, checkpoint) : this.unsaved.add(symbol) && undefined));
  }

  /** Symbols whose outputs were not all stored since they were taken: their checkpoint no longer moves. */
  private readonly unsaved = new Set<string>();

  private take(symbol: string, raw: unknown): void {
    const parsed = checkpointSchema.safeParse(raw ?? {});
    const checkpoint = parsed.success ? parsed.data : {};
    for (const s of this.options.series) {
      if (s.symbol !== symbol) continue;
      s.silentUpTo = checkpoint[s.timeframe];
      s.owned = true;
      this.unsaved.delete(symbol);
      const kept = s.kept;
      s.kept = [];
      if (s.keptDropped > 0) {
        this.options.alert(
          'SHARD_TAKEOVER_INCOMPLETE',
          `Runner instance '${this.instance}' took ${symbol} ${s.timeframe} over with ${s.keptDropped} older bars no longer kept (sharding.keepBars): its strategies continue from an incomplete series and may signal differently from the previous owner for a while.`,
          { symbol, timeframe: s.timeframe, dropped: s.keptDropped },
        );
        s.keptDropped = 0;
      }
      for (const { candle, envelope } of kept) this.options.consume(s, candle, envelope);
      this.options.logger.info({ symbol, timeframe: s.timeframe, checkpoint: s.silentUpTo, replayed: kept.length }, 'took the symbol over');
    }
  }

  private async give(symbol: string): Promise<void> {
    for (const s of this.options.series) {
      if (s.symbol !== symbol) continue;
      s.owned = false;
      s.silentUpTo = undefined;
    }
    // The checkpoint of the last processed bar is saved before the lease goes.
    await this.processed(symbol);
  }
}
