import { timingSafeEqual, createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { redactSecrets, registerSecretValues, type Envelope, type Logger, type SystemConfig, type TradebusSystem } from '@tradebus/core';
import { HttpError, errorHandler, parseOr400 } from './errors.js';
import type { SystemMetrics } from './metrics.js';
import { buildOpenApi } from './openapi.js';
import { redactConfigChanges, redactSystemConfig, type ConfigSchemas } from './redact.js';
import { agentActionParams, configPatchSchema, eventsQuerySchema, killSwitchSchema, listQuerySchema, watchdogReportQuerySchema } from './schemas.js';

/** Read access to recorded history; the launcher backs it with the data layer. */
export interface ApiDataSource {
  events(query: z.output<typeof eventsQuerySchema>): Promise<Envelope[]>;
  orders(query: z.output<typeof listQuerySchema>): Promise<unknown[]>;
  trades(query: z.output<typeof listQuerySchema>): Promise<unknown[]>;
  positions(): Promise<unknown[]>;
  account(): Promise<unknown>;
}

export interface ApiContext {
  system: TradebusSystem;
  /** The config as loaded (secrets are redacted before it is served). */
  config: () => SystemConfig;
  /** Schemas beside the system's that mark secret settings: each loaded agent's. */
  schemas?: ConfigSchemas;
  /** Applies a validated PATCH /config; returns what changed. */
  patchConfig: (patch: z.output<typeof configPatchSchema>) => Promise<Record<string, unknown>>;
  /** Per agent id of this process: the settings PATCH /config may change, as each agent declares them. */
  hotSettings?: Record<string, readonly string[]>;
  data: ApiDataSource;
  metrics: SystemMetrics;
  /** Bearer token for mutating routes; when undefined they answer 401 with instructions. */
  token: string | undefined;
  logger: Logger;
  bodyLimit: string;
  cors: false | string[];
  startedAt: number;
  version: string;
}

function sameToken(given: string, expected: string): boolean {
  // Hash both so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const MUTATING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** True when the request declares a content type other than JSON, or carries a body without one. */
function sendsNonJson(req: Request): boolean {
  const declared = req.headers['content-type'];
  if (declared !== undefined) return declared.split(';')[0]!.trim().toLowerCase() !== 'application/json';
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
}

export function createApiApp(ctx: ApiContext): express.Express {
  const schemas: ConfigSchemas = ctx.schemas ?? { agents: new Map() };
  if (ctx.token !== undefined) registerSecretValues([ctx.token]);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    const origin = req.headers.origin;
    if (ctx.cors !== false && origin !== undefined && ctx.cors.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PATCH');
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
    }
    next();
  });
  app.use((req: Request, _res: Response, next: NextFunction) => {
    // A body in any other type would be read as no body at all, and a route would act on its
    // defaults (a form-encoded kill-switch request used to halt trading whatever it asked for).
    if (MUTATING_METHODS.has(req.method) && sendsNonJson(req)) {
      throw new HttpError(
        415,
        'JSON_REQUIRED',
        `${req.method} ${req.path} accepts only JSON: send the body with "Content-Type: application/json" (got '${(req.headers['content-type'] ?? 'no content type').slice(0, 100)}').`,
      );
    }
    next();
  });
  app.use(express.json({ limit: ctx.bodyLimit }));

  const requireToken = (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    if (ctx.token === undefined) {
      throw new HttpError(401, 'API_TOKEN_NOT_CONFIGURED', 'Mutating routes need a bearer token, and none is configured: set TRADEBUS_API_TOKEN (or api.token) and restart.');
    }
    if (header === undefined || !header.startsWith('Bearer ')) {
      throw new HttpError(401, 'UNAUTHENTICATED', 'Send the API token as "Authorization: Bearer <token>".');
    }
    if (!sameToken(header.slice('Bearer '.length).trim(), ctx.token)) {
      throw new HttpError(403, 'FORBIDDEN', 'The API token is wrong.');
    }
    next();
  };

  app.get('/health', (_req, res) => {
    const health = ctx.system.health.snapshot();
    res.status(health.status === 'down' ? 503 : 200).json({ status: health.status, timestamp: health.timestamp });
  });

  app.get('/system/status', (_req, res) => {
    const health = ctx.system.health.snapshot();
    const config = ctx.config();
    res.json({
      name: config.system.name,
      env: config.system.env,
      version: ctx.version,
      status: health.status,
      startedAt: ctx.startedAt,
      uptimeMs: Date.now() - ctx.startedAt,
      pid: process.pid,
      transport: ctx.system.transport.name,
      transportStatus: ctx.system.transport.status,
      clock: ctx.system.clock.kind,
      agents: {
        total: health.agents.length,
        byStatus: health.agents.reduce<Record<string, number>>((acc, a) => ((acc[a.status] = (acc[a.status] ?? 0) + 1), acc), {}),
      },
    });
  });

  app.get('/agents/status', (_req, res) => {
    const health = ctx.system.health.snapshot();
    const local = new Map(ctx.system.supervisor.list().map((a) => [a.id, a]));
    res.json({
      status: health.status,
      timestamp: health.timestamp,
      agents: health.agents.map((a) => {
        const here = local.get(a.agentId);
        return { ...a, local: here !== undefined, restarts: here?.restarts ?? 0, gaveUp: here?.gaveUp ?? false };
      }),
    });
  });

  app.get('/events/history', async (req, res) => {
    const query = parseOr400(eventsQuerySchema, req.query, 'query');
    const events = await ctx.data.events(query);
    res.json({ count: events.length, events: redactSecrets(events.map((e) => ('toJSON' in e ? (e as { toJSON(): unknown }).toJSON() : e))) });
  });

  // Redacted, the config still maps the deployment (hosts, venues, risk limits, file paths):
  // it is for the operator, like the routes that change things (see docs/operations.md).
  app.get('/config', requireToken, (_req, res) => {
    res.json(redactSystemConfig(ctx.config(), schemas));
  });

  app.get('/config/hot', requireToken, (_req, res) => {
    res.json({ agents: ctx.hotSettings ?? {} });
  });

  app.patch('/config', requireToken, async (req, res) => {
    const patch = parseOr400(configPatchSchema, req.body, 'body');
    const changes = await ctx.patchConfig(patch);
    res.json({ applied: redactConfigChanges(changes, schemas) });
  });

  app.post('/agents/:id/:action', requireToken, async (req, res) => {
    const { id, action } = parseOr400(agentActionParams, req.params, 'params');
    if (!ctx.system.supervisor.has(id)) {
      const remote = ctx.system.health.agent(id);
      throw remote
        ? new HttpError(409, 'AGENT_REMOTE', `Agent '${id}' runs in another process (pid ${remote.pid} on ${remote.host}); start, stop or restart it there.`)
        : new HttpError(404, 'AGENT_UNKNOWN', `No agent with id '${id}'. See GET /agents/status for the agents.`);
    }
    if (action === 'start') await ctx.system.supervisor.startAgent(id);
    else if (action === 'stop') await ctx.system.supervisor.stopAgent(id);
    else await ctx.system.supervisor.restartAgent(id);
    res.json({ id, action, state: ctx.system.supervisor.get(id).state });
  });

  app.get('/orders', async (req, res) => {
    res.json({ orders: await ctx.data.orders(parseOr400(listQuerySchema, req.query, 'query')) });
  });
  app.get('/trades', async (req, res) => {
    res.json({ trades: await ctx.data.trades(parseOr400(listQuerySchema, req.query, 'query')) });
  });
  app.get('/positions', async (_req, res) => {
    res.json({ positions: await ctx.data.positions() });
  });
  app.get('/account', async (_req, res) => {
    res.json({ account: (await ctx.data.account()) ?? null });
  });

  app.post('/kill-switch', requireToken, (req, res) => {
    const body = parseOr400(killSwitchSchema, req.body ?? {}, 'body');
    const event = ctx.system.bus.publish('risk.command', {
      action: body.action,
      reason: body.reason,
      by: body.by ?? 'api',
      timestamp: ctx.system.clock.now(),
    });
    res.status(202).json({ accepted: true, eventId: event.id, action: body.action });
  });

  // The profit watchdog publishes its figures on the bus, wherever it runs: the API keeps the latest of each.
  const watchdogReports = new Map<string, { payload: unknown; timestamp: number }>();
  ctx.system.bus.subscribe('watchdog.report', (e) => void watchdogReports.set(e.payload.agentId, { payload: e.payload, timestamp: e.payload.timestamp }));
  app.get('/watchdog/report', (req, res) => {
    const { agent } = parseOr400(watchdogReportQuerySchema, req.query, 'query');
    const latest = agent !== undefined ? watchdogReports.get(agent) : [...watchdogReports.values()].sort((a, b) => b.timestamp - a.timestamp)[0];
    if (latest === undefined) {
      throw new HttpError(
        404,
        'WATCHDOG_REPORT_NONE',
        agent !== undefined
          ? `No report from a profit watchdog '${agent}' yet${watchdogReports.size > 0 ? ` (reports from: ${[...watchdogReports.keys()].join(', ')})` : ''}. It reports every reportEvery outcomes.`
          : 'No profit watchdog report yet: run a profit-watchdog agent (use: profit-watchdog); it reports every reportEvery decision outcomes.',
      );
    }
    res.json(latest.payload);
  });

  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', ctx.metrics.registry.contentType);
    res.send(await ctx.metrics.registry.metrics());
  });

  // Like /metrics: timings and memory, nothing about positions or the deployment.
  app.get('/perf', (_req, res) => {
    res.json(ctx.metrics.perf.snapshot());
  });

  app.get('/openapi.json', (_req, res) => {
    res.json(buildOpenApi(ctx.system.catalogue, ctx.version));
  });

  app.use((req: Request) => {
    throw new HttpError(404, 'NOT_FOUND', `No route ${req.method} ${req.path}. The routes are listed at GET /openapi.json.`);
  });
  app.use(errorHandler(ctx.logger));
  return app;
}
