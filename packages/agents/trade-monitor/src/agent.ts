import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BaseAgent, defineAgent, toPlainEnvelope, type AgentContext, type Envelope } from '@tradebus/core';
import { tradeMonitorConfigSchema, type TradeMonitorConfig } from './config.js';
import { TradeMonitorError } from './errors.js';
import { HISTORY_QUERIES, fetchAgents, fetchHistory } from './history.js';
import { allowedHostNames, createDashboardApp } from './server.js';
import type { DashboardSnapshot, SystemHealthView } from './snapshot.js';
import { SseHub } from './sse.js';
import { MonitorState } from './state.js';

/**
 * The trader's dashboard: keeps a bounded view of the system from bus events (agents, charts,
 * positions, orders, trades, equity, risk, the event stream) and serves it as a web page with
 * live updates over Server-Sent Events. It only listens; the one thing it can do is forward an
 * operator's kill switch, with the operator's token, to the main REST API.
 */
export class TradeMonitorAgent extends BaseAgent<TradeMonitorConfig> {
  private readonly view: MonitorState;
  private readonly coalesceTypes: Set<string>;
  /** Latest event per coalesced type and symbol, delivered on the next push. */
  private readonly coalesced = new Map<string, Envelope>();
  private hub: SseHub | undefined;
  private server: Server | undefined;
  private url: string | undefined;
  /** The port first bound: a restart with port 0 comes back on it, so open pages reconnect. */
  private boundPort: number | undefined;

  constructor(context: AgentContext<TradeMonitorConfig>) {
    super(context);
    // Kept across restarts of the agent: the view is rebuilt from events, not from storage.
    this.view = new MonitorState(context.config);
    this.coalesceTypes = new Set(context.config.coalesce);
  }

  /** Where the dashboard is served, once the agent has started. */
  get dashboardUrl(): string | undefined {
    return this.url;
  }

  override links(): Array<{ name: string; url: string }> {
    return this.url === undefined ? [] : [{ name: 'Dashboard', url: this.url }];
  }

  /** The whole view, as served by GET /api/snapshot. */
  snapshot(): DashboardSnapshot {
    this.flushCoalesced();
    return this.view.snapshot(this.clock.now());
  }

  health(): SystemHealthView {
    return this.view.health(this.clock.now());
  }

  /** Pages connected to the live stream. */
  get streams(): number {
    return this.hub?.size ?? 0;
  }

  protected override async initialize(): Promise<void> {
    // A restart after a failure comes here without cleanup(): let go of the old server first.
    await this.closeServer();
    const config = this.config;
    const hub = new SseHub({
      keepAliveMs: config.keepAliveMs,
      retryMs: config.retryMs,
      maxClients: config.maxClients,
      maxBufferedBytes: config.maxBufferedBytes,
      pulseMs: config.pushIntervalMs,
      onPulse: () => this.push(),
      onPulseError: (err) => {
        this.recordError(err);
        this.logger.error({ err }, 'dashboard push failed');
      },
    });
    const app = createDashboardApp({ config, hub, logger: this.logger, snapshot: () => this.snapshot() });
    try {
      this.server = await listen(app, config.host, this.boundPort ?? config.port, this.id);
    } catch (err) {
      hub.close();
      throw err;
    }
    this.hub = hub;
    const address = this.server.address() as AddressInfo;
    this.boundPort = address.port;
    this.url = urlOf(address, config.host);
    if (allowedHostNames(config) === undefined) {
      this.logger.warn({ host: config.host }, 'dashboard listens on every interface and accepts any Host header: set allowedHosts to the names you open it by');
    }
    this.logger.info({ url: this.url }, 'dashboard listening');
  }

  protected override run(): void {
    this.subscribe('>', (event) => this.onEvent(event as Envelope));
    if (this.config.backfill) this.background('history', (signal) => this.loadHistory(signal));
  }

  protected override async cleanup(): Promise<void> {
    await this.closeServer();
  }

  private onEvent(event: Envelope): void {
    if (this.coalesceTypes.has(event.type)) {
      const p = event.payload as { symbol?: unknown; timeframe?: unknown } | undefined;
      this.coalesced.set(`${event.type}|${String(p?.symbol ?? '')}|${String(p?.timeframe ?? '')}`, event);
      return;
    }
    this.deliver(event);
  }

  private deliver(event: Envelope): void {
    const charts = this.view.chartsVersion;
    if (!this.view.apply(event, this.clock.now())) return;
    // A new chart needs its bars and settings, which only a snapshot carries.
    if (this.view.chartsVersion !== charts) this.hub?.broadcast('snapshot', this.snapshot());
    else this.hub?.broadcast('event', toPlainEnvelope(event));
  }

  /** Sends what changes without events of its own: heartbeat ages, and the coalesced events. */
  private push(): void {
    if (this.state !== 'running' && this.state !== 'degraded') return;
    this.flushCoalesced();
    this.hub?.broadcast('health', this.view.health(this.clock.now()));
  }

  private flushCoalesced(): void {
    if (this.coalesced.size === 0) return;
    const pending = [...this.coalesced.values()];
    this.coalesced.clear();
    for (const event of pending) this.deliver(event);
  }

  /**
   * Best effort: reloads the agents the system knows, recent trading events and candles from the
   * main API so a restarted dashboard is not empty. Never fails the agent; without the API the
   * view starts from now.
   */
  private async loadHistory(signal: AbortSignal): Promise<void> {
    const attempts = 5;
    for (let attempt = 1; attempt <= attempts && !signal.aborted; attempt++) {
      try {
        let seeded = 0;
        for (const known of await fetchAgents(this.config.apiUrl, { signal, timeoutMs: this.config.forwardTimeoutMs })) {
          if (this.view.agents.seed(known, this.clock.now())) seeded++;
        }
        let applied = 0;
        let rejected = 0;
        for (const types of HISTORY_QUERIES) {
          const page = await fetchHistory(this.config.apiUrl, types, {
            limit: this.config.backfillLimit,
            signal,
            timeoutMs: this.config.forwardTimeoutMs,
            catalogue: this.bus.catalogue,
          });
          rejected += page.rejected;
          for (const event of page.events) if (this.view.apply(event, this.clock.now())) applied++;
        }
        if (rejected > 0) this.logger.warn({ rejected }, 'history events with unknown types or invalid payloads were skipped');
        this.logger.info({ applied, agents: seeded }, 'history loaded from the main API');
        if (applied > 0) this.hub?.broadcast('snapshot', this.snapshot());
        else if (seeded > 0) this.hub?.broadcast('health', this.health());
        return;
      } catch (err) {
        if (signal.aborted) return;
        const level = attempt === attempts ? 'warn' : 'debug';
        this.logger[level]({ attempt, reason: (err as Error).message }, attempt === attempts ? 'history not loaded: the dashboard shows events from now on' : 'history not loaded yet, retrying');
        if (attempt < attempts) await this.pause(500 * 2 ** attempt, signal);
      }
    }
  }

  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      function done(): void {
        timer.cancel();
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }

  private async closeServer(): Promise<void> {
    this.hub?.close();
    this.hub = undefined;
    const server = this.server;
    this.server = undefined;
    this.url = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

function listen(app: ReturnType<typeof createDashboardApp>, host: string, port: number, agentId: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new TradeMonitorError('DASHBOARD_PORT_IN_USE', `Port ${port} on ${host} is in use: stop the other process, or set agents[${agentId}].config.port to another port (0 picks a free one).`, { cause: err })
          : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
            ? new TradeMonitorError('DASHBOARD_HOST_INVALID', `Cannot listen on host '${host}' (${err.code}): set agents[${agentId}].config.host to an address of this machine, e.g. 127.0.0.1.`, { cause: err })
            : err,
      );
    });
  });
}

function urlOf(address: AddressInfo, host: string): string {
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  const name = wildcard ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${name}:${address.port}/`;
}

export const agent = defineAgent<TradeMonitorConfig>({
  kind: 'trade-monitor',
  description: 'Web dashboard: agents, prices with trade markers, positions, orders, trades, equity, risk, live events and the kill switch',
  configSchema: tradeMonitorConfigSchema,
  create: (context) => new TradeMonitorAgent(context),
});
