import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSystem, type TradebusSystem } from '@tradebus/core';
import { agent, type TradeMonitorAgent, type TradeMonitorConfigInput } from './index.js';
import { dashboardSnapshotSchema } from './snapshot.js';

/** Reads Server-Sent Events from a fetch body: named messages and comment lines. */
class SseReader {
  private buffer = '';
  private readonly frames: Array<{ event?: string; data?: string; comment?: string; retry?: string }> = [];
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next frame that matches, skipping others; fails after `timeoutMs`. */
  async next(match: (f: { event?: string; data?: string; comment?: string; retry?: string }) => boolean, timeoutMs = 5_000): Promise<{ event?: string; data?: string; comment?: string; retry?: string }> {
    const deadline = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i !== -1) return this.frames.splice(0, i + 1).pop()!;
      this.frames.length = 0;
      if (deadline.aborted) throw new Error('no matching SSE frame in time');
      const chunk = await Promise.race([this.reader.read(), new Promise<never>((_, reject) => deadline.addEventListener('abort', () => reject(new Error('no matching SSE frame in time'))))]);
      if (chunk.done) throw new Error('stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = this.buffer.indexOf('\n\n')) !== -1) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const frame: { event?: string; data?: string; comment?: string; retry?: string } = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) frame.comment = line.slice(1).trim();
          else if (line.startsWith('event: ')) frame.event = line.slice(7);
          else if (line.startsWith('data: ')) frame.data = line.slice(6);
          else if (line.startsWith('retry: ')) frame.retry = line.slice(7);
        }
        this.frames.push(frame);
      }
    }
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}

/** A plain HTTP server standing in for whatever answers at apiUrl; it records what it was sent. */
class Upstream {
  readonly requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
  reply: { status: number; body: string; headers?: Record<string, string> } = { status: 202, body: '{"accepted":true}' };
  /** Answers by path, before `reply`. */
  routes: Record<string, { status: number; body: string }> = {};
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const reply = this.routes[(req.url ?? '').split('?')[0]!] ?? this.reply;
        res.writeHead(reply.status, { 'content-type': 'application/json', ...this.reply.headers });
        res.end(reply.body);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

async function startMonitor(config: TradeMonitorConfigInput): Promise<{ system: TradebusSystem; monitor: TradeMonitorAgent; base: string }> {
  const system = createSystem({ heartbeatIntervalMs: 200, validateOnPublish: true, agents: [{ id: 'monitor', definition: agent, config: { port: 0, backfill: false, ...config } }] });
  await system.start();
  const monitor = system.agent<TradeMonitorAgent>('monitor');
  return { system, monitor, base: monitor.dashboardUrl!.replace(/\/$/, '') };
}

/** A GET on a new connection, with a chosen Host header (fetch does not let one set it). */
function getWithHost(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a pooled one may belong to a server that just restarted.
    const req = request(`${base}${path}`, { headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('trade-monitor agent', () => {
  const upstream = new Upstream();
  let system: TradebusSystem;
  let monitor: TradeMonitorAgent;
  let base: string;
  let reportsDir: string;

  beforeAll(async () => {
    await upstream.start();
    reportsDir = mkdtempSync(join(tmpdir(), 'tradebus-reports-'));
    ({ system, monitor, base } = await startMonitor({ apiUrl: upstream.url, keepAliveMs: 50, pushIntervalMs: 100, reportsDir }));
  });

  afterAll(async () => {
    await system.stop();
    await upstream.stop();
    rmSync(reportsDir, { recursive: true, force: true });
  });

  afterEach(() => {
    upstream.requests.length = 0;
    upstream.reply = { status: 202, body: '{"accepted":true}' };
  });

  it('names its dashboard address as a link and serves the page with a self-only CSP and no inline code', async () => {
    expect(monitor.links()).toEqual([{ name: 'Dashboard', url: `${base}/` }]);
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-powered-by')).toBeNull();
    const html = await res.text();
    expect(html).toContain('<script src="/vendor/lightweight-charts.js" defer></script>');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i);
    for (const [path, type] of [['/app.js', /javascript/], ['/charts.js', /javascript/], ['/app.css', /css/], ['/vendor/lightweight-charts.js', /javascript/], ['/favicon.svg', /svg/]] as const) {
      const asset = await fetch(base + path);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get('content-type'), path).toMatch(type);
    }
    expect(await (await fetch(`${base}/vendor/lightweight-charts.js`)).text()).toContain('LightweightCharts');
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('never uses innerHTML or eval-like sinks in the page scripts', async () => {
    for (const path of ['/app.js', '/charts.js', '/dom.js']) {
      const code = await (await fetch(base + path)).text();
      expect(code, path).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
    }
  });

  it('refuses requests for another host name (DNS rebinding)', async () => {
    const port = new URL(base).port;
    const refused = await getWithHost(base, '/api/snapshot', `attacker.example:${port}`);
    expect(refused.status).toBe(421);
    expect(JSON.parse(refused.body).error.code).toBe('HOST_NOT_ALLOWED');
    expect((await getWithHost(base, '/api/snapshot', `localhost:${port}`)).status).toBe(200);
  });

  it('serves a JSON snapshot of what happened on the bus', async () => {
    system.bus.publish('candle.closed', { symbol: 'BTC/USDT', timeframe: '1m', timestamp: 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3 });
    system.bus.publish('trade.opened', { tradeId: 'snap-1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 1.5, fees: 0, openedAt: 120_000 });
    const res = await fetch(`${base}/api/snapshot`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const snap = dashboardSnapshotSchema.parse(await res.json());
    expect(snap.mode).toBe('live');
    expect(snap.charts.find((c) => c.symbol === 'BTC/USDT')?.candles).toHaveLength(1);
    expect(snap.trades.find((t) => t.tradeId === 'snap-1')?.status).toBe('open');
    expect(snap.system?.agents.map((a) => a.agentId)).toContain('monitor');
  });

  it('streams a snapshot first, then bus events, coalesced ticks, health and keep-alives', async () => {
    const res = await fetch(`${base}/api/stream`, { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const sse = new SseReader(res.body!);
    try {
      expect((await sse.next((f) => f.retry !== undefined)).retry).toBe('3000');
      const first = await sse.next((f) => f.event !== undefined);
      expect(first.event).toBe('snapshot');
      expect(dashboardSnapshotSchema.parse(JSON.parse(first.data!)).version).toBe(1);
      expect(monitor.streams).toBe(1);

      system.bus.publish('trade.closed', { tradeId: 'sse-1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 1, exitPrice: 2, pnl: 1, pnlPct: 100, fees: 0, exitReason: 'signal', openedAt: 1, closedAt: 2 });
      const event = await sse.next((f) => f.event === 'event' && JSON.parse(f.data!).type === 'trade.closed');
      expect(JSON.parse(event.data!)).toMatchObject({ type: 'trade.closed', source: 'system', payload: { tradeId: 'sse-1', pnl: 1 } });

      // Three ticks within one push interval reach the page as one: the latest.
      for (const price of [10, 11, 12]) system.bus.publish('price.tick', { symbol: 'ETH/USDT', price, timestamp: price });
      const tick = await sse.next((f) => f.event === 'event' && JSON.parse(f.data!).type === 'price.tick');
      expect(JSON.parse(tick.data!).payload.price).toBe(12);
      const health = await sse.next((f) => f.event === 'health');
      expect(JSON.parse(health.data!).agents.map((a: { agentId: string }) => a.agentId)).toContain('monitor');
      expect((await sse.next((f) => f.comment !== undefined)).comment).toBe('keep-alive');
      system.bus.publish('price.tick', { symbol: 'ETH/USDT', price: 13, timestamp: 13 });
      const next = await sse.next((f) => f.event === 'event' && JSON.parse(f.data!).type === 'price.tick');
      expect(JSON.parse(next.data!).payload.price).toBe(13);
    } finally {
      await sse.close();
    }
  });

  it('sends a fresh snapshot when a new chart appears', async () => {
    const res = await fetch(`${base}/api/stream`);
    const sse = new SseReader(res.body!);
    try {
      await sse.next((f) => f.event === 'snapshot');
      system.bus.publish('candle.closed', { symbol: 'SOL/USDT', timeframe: '1m', timestamp: 60_000, open: 1, high: 1, low: 1, close: 1, volume: 1 });
      const snap = await sse.next((f) => f.event === 'snapshot');
      expect(JSON.parse(snap.data!).charts.map((c: { symbol: string }) => c.symbol)).toContain('SOL/USDT');
      system.bus.publish('candle.closed', { symbol: 'SOL/USDT', timeframe: '1m', timestamp: 120_000, open: 1, high: 1, low: 1, close: 1, volume: 1 });
      const bar = await sse.next((f) => f.event !== 'health' && f.event !== undefined);
      expect(bar.event).toBe('event');
    } finally {
      await sse.close();
    }
  });

  describe('risk limits form', () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}/api/risk-limits`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

    it("forwards the filled limits as PATCH /config of the trade manager, with the token, and passes the answer through", async () => {
      upstream.reply = { status: 200, body: '{"applied":{"agents.manager.config":{}}}' };
      const res = await post({ maxOpenPositions: 1, dailyLossPct: 3.5 }, { authorization: 'Bearer secret-token-123' });
      expect(res.status).toBe(200);
      expect(upstream.requests).toHaveLength(1);
      const sent = upstream.requests[0]!;
      expect(sent.method).toBe('PATCH');
      expect(sent.url).toBe('/config');
      expect(sent.headers.authorization).toBe('Bearer secret-token-123');
      expect(JSON.parse(sent.body)).toEqual({ agents: { manager: { config: { limits: { maxOpenPositions: 1 }, breakers: { dailyLossPct: 3.5 } } } } });
    });

    it('passes the refusal of the API through and checks the form before sending', async () => {
      upstream.reply = { status: 409, body: JSON.stringify({ error: { code: 'AGENT_RECONFIGURE_REFUSED', message: 'refused: reason' } }) };
      const refused = await post({ riskPerTradePct: 0.5 });
      expect(refused.status).toBe(409);
      expect(await refused.json()).toEqual({ error: { code: 'AGENT_RECONFIGURE_REFUSED', message: 'refused: reason' } });
      expect(JSON.parse(upstream.requests[0]!.body)).toEqual({ agents: { manager: { config: { sizing: { riskPerTradePct: 0.5 } } } } });
      for (const bad of [{}, { maxOpenPositions: -1 }, { maxOpenPositions: 1.5 }, { timeframe: '1h' }]) {
        expect((await post(bad)).status).toBe(400);
      }
      expect(upstream.requests).toHaveLength(1);
    });
  });

  describe('kill switch forwarding', () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}/api/kill-switch`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

    it('forwards the action with the Authorization header untouched and passes the answer through', async () => {
      upstream.reply = { status: 202, body: '{"accepted":true,"eventId":"e1","action":"kill"}' };
      const res = await post({ action: 'kill', reason: 'too volatile' }, { authorization: 'Bearer secret-token-123' });
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: true, eventId: 'e1', action: 'kill' });
      expect(upstream.requests).toHaveLength(1);
      const sent = upstream.requests[0]!;
      expect(sent.method).toBe('POST');
      expect(sent.url).toBe('/kill-switch');
      expect(sent.headers.authorization).toBe('Bearer secret-token-123');
      expect(JSON.parse(sent.body)).toEqual({ action: 'kill', reason: 'too volatile', by: 'dashboard' });
    });

    it.each([
      [401, 'UNAUTHENTICATED', undefined],
      [403, 'FORBIDDEN', 'Bearer wrong'],
    ])('passes a refusal (%i) through with the API message', async (status, code, authorization) => {
      upstream.reply = { status, body: JSON.stringify({ error: { code, message: `refused: ${code}` } }) };
      const res = await post({ action: 'resume' }, authorization ? { authorization } : {});
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual({ error: { code, message: `refused: ${code}` } });
      expect(upstream.requests[0]!.headers.authorization).toBe(authorization);
      expect(JSON.parse(upstream.requests[0]!.body)).toMatchObject({ action: 'resume', reason: 'dashboard operator' });
    });

    it('wraps an answer that is not JSON, keeping its status', async () => {
      upstream.reply = { status: 500, body: 'upstream exploded', headers: { 'content-type': 'text/plain' } };
      const res = await post({ action: 'kill' });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { code: 'API_ERROR', message: 'upstream exploded' } });
    });

    it('does not follow a redirect with the token', async () => {
      upstream.reply = { status: 307, body: '', headers: { location: 'http://127.0.0.1:1/elsewhere' } };
      const res = await post({ action: 'resume' }, { authorization: 'Bearer t' });
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('API_REDIRECT');
      expect(upstream.requests).toHaveLength(1);
    });

    it('validates the request before forwarding anything', async () => {
      const bad = await post({ action: 'liquidate' });
      expect(bad.status).toBe(400);
      const err = (await bad.json()) as { error: { code: string; issues: Array<{ path: string }> } };
      expect(err.error.code).toBe('INVALID_REQUEST');
      expect(err.error.issues.map((i) => i.path)).toEqual(['body.action']);
      // A request that does not say what to do is refused, never taken as 'kill'.
      const missing = await post({ reason: 'no action given' });
      expect(missing.status).toBe(400);
      expect(((await missing.json()) as { error: { issues: Array<{ path: string; message: string }> } }).error.issues).toEqual([
        { path: 'body.action', message: "required: say what to do, 'kill', 'flatten' or 'resume'" },
      ]);
      expect((await post({ action: 'kill', extra: 1 })).status).toBe(400);
      expect((await post('{not json')).status).toBe(400);
      const form = await fetch(`${base}/api/kill-switch`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'action=kill' });
      expect(form.status).toBe(415);
      const crossSite = await post({ action: 'kill' }, { origin: 'https://attacker.example' });
      expect(crossSite.status).toBe(403);
      expect(upstream.requests).toEqual([]);
    });
  });

  describe('reports', () => {
    it('lists report files and serves a valid one in report mode with defaults filled in', async () => {
      writeFileSync(join(reportsDir, 'backtest-1.json'), JSON.stringify({ version: 1, title: 'SMA cross', trades: [{ tradeId: 'r1', symbol: 'BTC/USDT', side: 'short', status: 'closed', quantity: 1, entryPrice: 10, exitPrice: 9, pnl: 1, openedAt: 1, closedAt: 2 }], metrics: { 'Total return %': 12.5 }, extra: 'kept out' }));
      const list = (await (await fetch(`${base}/api/reports`)).json()) as { enabled: boolean; reports: Array<{ name: string; url: string }> };
      expect(list.enabled).toBe(true);
      expect(list.reports.map((r) => [r.name, r.url])).toEqual([['backtest-1.json', '/reports/backtest-1.json']]);
      const res = await fetch(`${base}/reports/backtest-1.json`);
      expect(res.status).toBe(200);
      const report = (await res.json()) as Record<string, unknown>;
      expect(report).toMatchObject({ version: 1, mode: 'report', title: 'SMA cross', charts: [], positions: [], risk: null, metrics: { 'Total return %': 12.5 } });
      expect(report.trades).toMatchObject([{ tradeId: 'r1', fees: 0 }]);
      expect(report).not.toHaveProperty('extra');
    });

    it('explains what is wrong with an invalid report, and refuses names outside the folder', async () => {
      writeFileSync(join(reportsDir, 'broken.json'), JSON.stringify({ version: 1, trades: [{ tradeId: 'x', side: 'sideways' }] }));
      const broken = await fetch(`${base}/reports/broken.json`);
      expect(broken.status).toBe(422);
      const err = (await broken.json()) as { error: { code: string; message: string; issues: Array<{ path: string }> } };
      expect(err.error.code).toBe('REPORT_INVALID');
      expect(err.error.issues.map((i) => i.path)).toContain('trades[0].side');
      writeFileSync(join(reportsDir, 'old.json'), JSON.stringify({ version: 2 }));
      expect(((await (await fetch(`${base}/reports/old.json`)).json()) as { error: { message: string } }).error.message).toMatch(/version must be 1/);
      writeFileSync(join(reportsDir, 'garbage.json'), '{');
      expect((await fetch(`${base}/reports/garbage.json`)).status).toBe(422);
      expect((await fetch(`${base}/reports/missing.json`)).status).toBe(404);
      expect((await fetch(`${base}/reports/..%2Fsecret.json`)).status).toBe(400);
      expect((await fetch(`${base}/reports/notes.txt`)).status).toBe(400);
    });
  });

  it('comes back on the same port after a restart, so open pages reconnect', async () => {
    const before = monitor.dashboardUrl;
    await system.supervisor.restartAgent('monitor');
    expect(monitor.dashboardUrl).toBe(before);
    const port = new URL(base).port;
    expect((await getWithHost(base, '/api/snapshot', `127.0.0.1:${port}`)).status).toBe(200);
  });
});

describe('trade-monitor startup', () => {
  it('fails to start with an error naming the port when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    const system = createSystem({ agents: [{ id: 'dash', definition: agent, config: { port, backfill: false } }] });
    try {
      await system.start();
      const dash = system.agent('dash');
      expect(dash.state).toBe('failed');
      expect(dash.detail).toMatch(new RegExp(`Port ${port} on 127.0.0.1 is in use.*agents\\[dash\\]\\.config\\.port`));
      expect(dash.links()).toEqual([]);
    } finally {
      await system.stop();
      blocker.close();
    }
  });

  it('rejects config errors naming the field', () => {
    const result = agent.configSchema.safeParse({ port: 70_000, apiUrl: 'ftp://x', colour: 'red' });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['port', 'apiUrl', '']));
    expect(result.error!.issues.find((i) => i.path[0] === 'apiUrl')?.message).toMatch(/http\(s\) URL of the main REST API/);
  });

  it('loads the known agents and recent history from the API on start, skipping events that fail validation', async () => {
    const history = new Upstream();
    const remote = { agentId: 'remote-1', kind: 'trade-manager', status: 'ok', state: 'running', uptimeMs: 5_000, heartbeatAgeMs: 50, lastHeartbeatAt: 1, intervalMs: 60_000, errors: 1, lastError: 'x: y', eventsIn: 3, eventsOut: 4, pid: 99, host: 'box', transport: 'nats', local: false, restarts: 0 };
    history.routes['/agents/status'] = { status: 200, body: JSON.stringify({ status: 'ok', timestamp: 1, agents: [remote] }) };
    const trade = { id: 'h1', type: 'trade.closed', source: 'manager', ts: 5, seq: 1, payload: { tradeId: 'old-1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 1, exitPrice: 2, pnl: 1, pnlPct: 100, fees: 0, exitReason: 'x', openedAt: 1, closedAt: 2 } };
    const invalid = { id: 'h2', type: 'trade.closed', source: 'manager', ts: 6, seq: 2, payload: { tradeId: 'bad' } };
    const unknown = { id: 'h3', type: 'made.up', source: 'manager', ts: 7, seq: 3, payload: {} };
    history.routes['/events/history'] = { status: 200, body: JSON.stringify({ count: 3, events: [unknown, invalid, trade] }) };
    await history.start();
    const { system: sys, monitor: dash } = await startMonitor({ apiUrl: history.url, backfill: true });
    try {
      await expect.poll(() => dash.snapshot().trades.map((t) => t.tradeId)).toEqual(['old-1']);
      const urls = history.requests.map((r) => decodeURIComponent(r.url));
      expect(urls).toHaveLength(3);
      expect(urls[0]).toBe('/agents/status');
      expect(urls[1]).toMatch(/^\/events\/history\?type=trade\.opened,trade\.closed,.*&limit=1000&order=desc$/);
      expect(urls[2]).toMatch(/type=candle\.closed/);
      expect(dash.health().agents.find((a) => a.agentId === 'remote-1')).toMatchObject({ status: 'ok', kind: 'trade-manager', errors: 1, pid: 99, host: 'box', transport: 'nats' });
      expect(dash.snapshot().events.map((e) => e.id)).toContain('h1');
    } finally {
      await sys.stop();
      await history.stop();
    }
  });
});
