import { z } from 'zod';
import { NatsTransport, ShardLeases, shardInstanceName, shardLeaseSettings, type Logger, type ShardReport, type Transport } from '@tradebus/core';

export const watchdogShardingSchema = z
  .strictObject({
    ...shardLeaseSettings('watchdogs'),
  })
  .describe(
    "Run several watchdog processes that share the symbols: each symbol's feeds run in one process at a time (leases in JetStream); a new owner continues after the previous owner's last closed bar, filling the gap from the provider's history",
  );

export type WatchdogShardingConfig = z.output<typeof watchdogShardingSchema>;

export interface WatchdogShardsOptions {
  config: WatchdogShardingConfig;
  agentId: string;
  transport: Transport;
  symbols: readonly string[];
  logger: Logger;
  /** Starts the symbol's feeds, continuing after `lastClosed` (per timeframe) when known. */
  start: (symbol: string, lastClosed: Record<string, number>) => void;
  /** Stops the symbol's feeds; resolves once they are stopped. Returns the last closed bar per timeframe. */
  stop: (symbol: string) => Promise<Record<string, number>>;
}

const checkpointSchema = z.record(z.string(), z.number());

/**
 * Shares the watchdog's symbols with the other instances of the same agent id. The checkpoint
 * of a symbol is the last closed bar published per timeframe, saved once it is stored; the new
 * owner starts the feeds with it as their resume point, so the bars after it are fetched from
 * the provider's history and published once, and none before it again.
 */
export class WatchdogShards {
  private leases: ShardLeases | undefined;
  readonly instance: string;

  constructor(private readonly options: WatchdogShardsOptions) {
    this.instance = shardInstanceName(options.config.instance);
  }

  async start(): Promise<void> {
    const { config } = this.options;
    this.leases = await ShardLeases.open({
      transport: this.options.transport,
      group: this.options.agentId,
      instance: this.instance,
      keys: this.options.symbols,
      leaseTtlMs: config.leaseTtlMs,
      ...(config.renewIntervalMs === undefined ? {} : { renewIntervalMs: config.renewIntervalMs }),
      logger: this.options.logger,
      acquire: (symbol, raw) => {
        const parsed = checkpointSchema.safeParse(raw ?? {});
        this.options.start(symbol, parsed.success ? parsed.data : {});
      },
      release: async (symbol) => {
        const lastClosed = await this.options.stop(symbol);
        await this.save(symbol, lastClosed);
      },
    });
    await this.leases.start();
  }

  async stop(): Promise<void> {
    await this.leases?.stop();
  }

  owns(symbol: string): boolean {
    return this.leases?.owns(symbol) ?? false;
  }

  report(): ShardReport | undefined {
    return this.leases?.report();
  }

  /** After a closed bar went out: saved once the transport has stored what was published. */
  save(symbol: string, lastClosed: Record<string, number>): Promise<void> {
    const leases = this.leases;
    if (leases === undefined) return Promise.resolve();
    const transport = this.options.transport;
    const stored = transport instanceof NatsTransport ? transport.durablePublished() : Promise.resolve(true);
    return stored.then((ok) => (ok ? leases.saveCheckpoint(symbol, { ...lastClosed }) : undefined));
  }
}
