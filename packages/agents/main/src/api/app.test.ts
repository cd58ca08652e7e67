import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BaseAgent, createSystem, defineAgent, parseConfig, secret, type AgentContext, type Envelope, type TradebusSystem } from '@tradebus/core';
import { createApiApp, type ApiDataSource } from './app.js';
import { SystemMetrics } from './metrics.js';

const TOKEN = 'test-token-0123456789abcdef';

class Dial extends BaseAgent<{ level: number; apiKey?: string }> {
  protected run(): void {}
  protected override onReconfigure(next: { level: number }): void {
    if (next.level > 100) throw new Error('too high');
  }
  get level(): number {
    return this.config.level;
  }
}
const dial = defineAgent({
  kind: 'dial',
  configSchema: z.object({ level: z.number().max(1000), apiKey: secret(z.string()).optional() }).strict(),
  create: (ctx: AgentContext<{ level: number; apiKey?: string }>) => new Dial(ctx),
});
class Plain extends BaseAgent {
  protected run(): void {}
}
const plain = defineAgent({ kind: 'plain', configSchema: z.unknown(), create: (ctx: AgentContext) => new Plain(ctx) });

describe('REST API', () => {
  let system: TradebusSystem;
  let server: Server;
  let base: string;
  const journal: Envelope[] = [];
  const config = parseConfig(
    [
      'api:\n  token: planted-secret-token-xyz1',
      'transport: { kind: nats, servers: [nats://alice:planted-url-pass@127.0.0.1:4222], pass: planted-nats-pass }',
      'providers:\n  venue:\n    kind: ccxt\n    exchange: binance\n    credentials: { apiKey: planted-provider-key, secret: planted-provider-secret }',
      'agents:\n  - id: dial\n    use: dial\n    config: { level: 1, apiKey: planted-agent-key }',
      '  - id: elsewhere\n    use: remote\n    config: { anything: planted-unknown-schema }',
      '',
    ].join('\n'),
    { env: {} },
  );
  let current = config;
  const queries: unknown[] = [];

  beforeAll(async () => {
    system = createSystem({
      agents: [
        { id: 'dial', definition: dial, config: { level: 1, apiKey: 'planted-agent-key' } },
        { id: 'plain', definition: plain },
      ],
    });
    system.bus.subscribe('>', (e) => void journal.push(e));
    await system.start();
    const data: ApiDataSource = {
      events: async (q) => {
        queries.push(q);
        return journal.filter((e) => q.type === undefined || q.type.includes(e.type)).slice(-q.limit);
      },
      orders: async (q) => [{ clientOrderId: 'o1', symbol: q.symbol ?? 'BTC/USDT' }],
      trades: async () => [{ tradeId: 't1' }],
      positions: async () => [{ symbol: 'BTC/USDT', quantity: 1 }],
      account: async () => ({ equity: 1000 }),
    };
    const metrics = new SystemMetrics(system);
    metrics.start();
    const app = createApiApp({
      system,
      config: () => current,
      patchConfig: async (patch) => {
        if (patch.agents?.dial) {
          const level = patch.agents.dial.config.level as number;
          await system.agent('dial').reconfigure({ level });
        }
        current = { ...current, log: { ...current.log, ...(patch.log ?? {}) } };
        return { ...(patch.log ? { 'log.level': patch.log.level } : {}), ...(patch.agents ? { agents: patch.agents } : {}) };
      },
      data,
      metrics,
      token: TOKEN,
      logger: system.logger,
      bodyLimit: '1kb',
      cors: false,
      startedAt: Date.now(),
      version: 'test',
      schemas: { agents: new Map([['dial', dial.configSchema]]) },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await system.stop();
  });

  const get = (path: string) => fetch(base + path);
  const send = (method: string, path: string, body?: unknown, token: string | null = TOKEN, raw?: string) =>
    fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });

  it('GET /health answers 200 with the system status while agents are up', async () => {
    const res = await get('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('GET /system/status and /agents/status describe every agent', async () => {
    const status = (await (await get('/system/status')).json()) as { transport: string; agents: { total: number } };
    expect(status.transport).toBe('local');
    expect(status.agents.total).toBe(2);
    const agents = (await (await get('/agents/status')).json()) as { agents: Array<Record<string, unknown>> };
    expect(agents.agents.map((a) => a.agentId)).toEqual(['dial', 'plain']);
    expect(agents.agents[0]).toMatchObject({ status: 'ok', pid: process.pid, transport: 'local', errors: 0, local: true });
    for (const key of ['uptimeMs', 'heartbeatAgeMs', 'eventsIn', 'eventsOut', 'host']) expect(agents.agents[0]).toHaveProperty(key);
  });

  it('GET /events/history validates its query and passes it on', async () => {
    const res = await get('/events/history?type=agent.status&limit=2');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { count: number; events: Array<{ type: string; id: string }> };
    expect(body.count).toBe(2);
    expect(body.events.every((e) => e.type === 'agent.status' && typeof e.id === 'string')).toBe(true);
    expect(queries.at(-1)).toMatchObject({ type: ['agent.status'], limit: 2, order: 'desc' });
    const bad = await get('/events/history?limit=100000&since=yesterday');
    expect(bad.status).toBe(400);
    const err = (await bad.json()) as { error: { code: string; issues: Array<{ path: string }> } };
    expect(err.error.code).toBe('INVALID_REQUEST');
    expect(err.error.issues.map((i) => i.path).sort()).toEqual(['query.limit', 'query.since']);
    expect((await get('/events/history?colour=red')).status).toBe(400);
  });

  it('GET /events/history answers 400 naming query.type for a type that is not an event type or pattern', async () => {
    for (const type of ['order..updated', 'order.*x', '>.order', ',']) {
      const res = await get(`/events/history?type=${encodeURIComponent(type)}`);
      expect(res.status, type).toBe(400);
      const err = (await res.json()) as { error: { code: string; message: string; issues: Array<{ path: string }> } };
      expect(err.error.code, type).toBe('INVALID_REQUEST');
      expect(err.error.issues.map((i) => i.path.replace(/\[\d+\]$/, '')), type).toEqual(['query.type']);
      expect(err.error.message, type).toMatch(/query\.type/);
    }
    expect((await get('/events/history?type=order.*,trade.>')).status).toBe(200);
  });

  it('GET /config needs the API token and redacts what the schemas mark secret and URL credentials', async () => {
    expect((await get('/config')).status).toBe(401);
    const text = await (await fetch(`${base}/config`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(text).not.toContain('planted');
    expect(JSON.parse(text)).toMatchObject({
      api: { token: '[REDACTED]' },
      transport: { kind: 'nats', servers: ['nats://[REDACTED]@127.0.0.1:4222'], pass: '[REDACTED]' },
      providers: { venue: { kind: 'ccxt', exchange: 'binance', credentials: '[REDACTED]' } },
      agents: [
        { id: 'dial', config: { level: 1, apiKey: '[REDACTED]' } },
        // No schema here says what in it is secret: an agent of another process shows nothing.
        { id: 'elsewhere', config: '[REDACTED]' },
      ],
    });
  });

  it('mutating routes answer 401 without a token and 403 with a wrong one', async () => {
    for (const [method, path] of [
      ['POST', '/kill-switch'],
      ['PATCH', '/config'],
      ['POST', '/agents/dial/restart'],
    ] as const) {
      const none = await send(method, path, {}, null);
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(/Bearer/);
      expect((await send(method, path, {}, 'wrong-token-000000000')).status, `${method} ${path}`).toBe(403);
    }
  });

  it('mutating routes accept only JSON bodies (415 otherwise) and the kill switch has no default action', async () => {
    const commands: string[] = [];
    const sub = system.bus.subscribe('risk.command', (e) => void commands.push(e.payload.action));
    // What `curl -d '{"action":"resume"}'` sends: a JSON text under the form content type.
    for (const [method, path] of [
      ['POST', '/kill-switch'],
      ['PATCH', '/config'],
      ['POST', '/agents/plain/restart'],
    ] as const) {
      const form = await fetch(base + path, {
        method,
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${TOKEN}` },
        body: '{"action":"resume"}',
      });
      expect(form.status, `${method} ${path}`).toBe(415);
      const err = (await form.json()) as { error: { code: string; message: string } };
      expect(err.error.code).toBe('JSON_REQUIRED');
      expect(err.error.message).toMatch(/Content-Type: application\/json/);
      const untyped = await fetch(base + path, { method, headers: { authorization: `Bearer ${TOKEN}` }, body: '{"action":"resume"}' });
      expect(untyped.status, `${method} ${path} without a content type`).toBe(415);
    }
    const textPlain = await fetch(`${base}/kill-switch`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${TOKEN}` }, body: 'kill' });
    expect(textPlain.status).toBe(415);
    const missing = await send('POST', '/kill-switch', { reason: 'forgot the action' });
    expect(missing.status).toBe(400);
    const err = (await missing.json()) as { error: { message: string; issues: Array<{ path: string; message: string }> } };
    expect(err.error.issues).toEqual([{ path: 'body.action', message: 'required: say what to do, one of kill, resume, reducing_only, reset_breakers, flatten' }]);
    const empty = await fetch(`${base}/kill-switch`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { issues: Array<{ path: string }> } }).error.issues[0]!.path).toBe('body.action');
    // A body-less request with no content type is fine where no body is needed.
    const restart = await fetch(`${base}/agents/plain/restart`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(restart.status).toBe(200);
    sub.unsubscribe();
    expect(commands).toEqual([]);
  });

  it('POST /kill-switch publishes a risk.command', async () => {
    const seen = system.bus.waitFor('risk.command', { timeoutMs: 2_000 });
    const res = await send('POST', '/kill-switch', { action: 'kill', reason: 'test halt' });
    expect(res.status).toBe(202);
    const event = await seen;
    expect(event.payload).toMatchObject({ action: 'kill', reason: 'test halt', by: 'api' });
    const bad = await send('POST', '/kill-switch', { action: 'explode' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: Array<{ path: string }> } }).error.issues[0]!.path).toBe('body.action');
  });

  it('rejects a body over the limit with 413 and broken JSON with 400, without a stack trace', async () => {
    const big = await send('POST', '/kill-switch', { action: 'kill', reason: 'x'.repeat(5_000) });
    expect(big.status).toBe(413);
    const broken = await send('POST', '/kill-switch', undefined, TOKEN, '{"action": ');
    expect(broken.status).toBe(400);
    const text = await broken.text();
    expect(text).not.toMatch(/at .*\.js|node_modules/);
  });

  it('POST /agents/:id/:action stops, starts and restarts a local agent', async () => {
    expect(((await (await send('POST', '/agents/plain/stop')).json()) as { state: string }).state).toBe('stopped');
    expect(((await (await send('POST', '/agents/plain/start')).json()) as { state: string }).state).toBe('running');
    expect(((await (await send('POST', '/agents/plain/restart')).json()) as { state: string }).state).toBe('running');
    expect((await send('POST', '/agents/ghost/start')).status).toBe(404);
    expect((await send('POST', '/agents/plain/explode')).status).toBe(400);
  });

  it('PATCH /config applies the hot-reloadable subset and refuses the rest', async () => {
    const res = await send('PATCH', '/config', { log: { level: 'debug' }, agents: { dial: { config: { level: 42 } } } });
    expect(res.status).toBe(200);
    expect(system.agent<Dial>('dial').level).toBe(42);
    expect(((await (await fetch(`${base}/config`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { log: { level: string } }).log.level).toBe('debug');
    expect((await send('PATCH', '/config', { api: { port: 1 } })).status).toBe(400);
    expect((await send('PATCH', '/config', {})).status).toBe(400);
    const refused = await send('PATCH', '/config', { agents: { dial: { config: { level: 500 } } } });
    expect(refused.status).toBe(409);
    expect(system.agent<Dial>('dial').level).toBe(42);
  });

  it('serves orders, trades, positions and the account', async () => {
    expect(await (await get('/orders?symbol=ETH/BTC')).json()).toEqual({ orders: [{ clientOrderId: 'o1', symbol: 'ETH/BTC' }] });
    expect(await (await get('/trades')).json()).toEqual({ trades: [{ tradeId: 't1' }] });
    expect(await (await get('/positions')).json()).toEqual({ positions: [{ symbol: 'BTC/USDT', quantity: 1 }] });
    expect(await (await get('/account')).json()).toEqual({ account: { equity: 1000 } });
    expect((await get('/orders?status=maybe')).status).toBe(400);
  });

  it('GET /metrics exposes Prometheus metrics built from bus events', async () => {
    system.bus.publish('trade.closed', {
      tradeId: 't9', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 100, exitPrice: 110, pnl: 9.5, pnlPct: 9.5, fees: 0.5,
      exitReason: 'take_profit', openedAt: 1, closedAt: 2,
    });
    for (let i = 0; i < 70; i++) system.bus.publish('price.tick', { symbol: 'BTC/USDT', price: 100 + i, timestamp: i });
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/tradebus_events_total\{type="trade.closed"\} 1/);
    expect(text).toMatch(/tradebus_realized_pnl 9.5/);
    expect(text).toMatch(/tradebus_agent_up\{agent="dial",kind="dial"\} 1/);
    expect(text).toMatch(/tradebus_handler_duration_seconds_count\{type="price.tick"\} [1-9]/);
    expect(text).toMatch(/tradebus_trades_closed_total\{symbol="BTC\/USDT",result="win"\} 1/);
  });

  it('GET /openapi.json documents every route and event schema', async () => {
    const doc = (await (await get('/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    for (const p of ['/health', '/system/status', '/agents/status', '/events/history', '/config', '/agents/{id}/{action}', '/orders', '/trades', '/positions', '/account', '/kill-switch', '/metrics']) {
      expect(doc.paths, p).toHaveProperty([p]);
    }
    expect(doc.components.schemas).toHaveProperty(['event:order.requested']);
  });

  it('answers unknown routes with 404 JSON', async () => {
    const res = await get('/nope');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('answers 503 on /health when every agent is down', async () => {
    await system.supervisor.stopAgent('plain');
    await system.supervisor.stopAgent('dial');
    const res = await get('/health');
    expect(res.status).toBe(200); // stopped on purpose is not down
    expect(((await res.json()) as { status: string }).status).toBe('degraded');
  });
});
