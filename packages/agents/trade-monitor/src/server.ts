import { readFile, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { formatZodIssues, type ConfigIssue, type Logger } from '@tradebus/core';
import type { TradeMonitorConfig } from './config.js';
import { TradeMonitorError } from './errors.js';
import { dashboardSnapshotSchema, type DashboardSnapshot } from './snapshot.js';
import type { SseHub } from './sse.js';

/** The page's own files (HTML, CSS, JS), shipped with the package. */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/** The chart library's standalone build (it defines `window.LightweightCharts`). */
export function chartLibraryPath(): string {
  // The package's exports map hides dist/, so locate it from its package.json.
  const pkg = createRequire(import.meta.url).resolve('lightweight-charts/package.json');
  return join(pkg, '..', 'dist', 'lightweight-charts.standalone.production.js');
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** An answer for the page: a status, a stable code, a message that says what to do. */
export class HttpError extends TradeMonitorError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly issues?: ConfigIssue[],
  ) {
    super(code, message);
  }
}

export const killSwitchRequestSchema = z
  .object({
    // No default: a request that does not say what to do must not halt (or resume) trading.
    action: z
      .enum(['kill', 'resume', 'flatten'], {
        error: (iss) => (iss.input === undefined ? "required: say what to do, 'kill', 'flatten' or 'resume'" : "use 'kill', 'flatten' or 'resume'"),
      })
      .describe('kill: halt new entries; flatten: kill, then close every position at market; resume: lift the kill switch'),
    reason: z.string().trim().min(1).max(500).default('dashboard operator'),
  })
  .strict();

const limit = (what: string) => z.number().finite().nonnegative().describe(what);

/** The risk panel's form: the trade manager's settings it may change while running. */
export const riskLimitsRequestSchema = z
  .object({
    maxOpenPositions: z.number().int().nonnegative().optional().describe('limits.maxOpenPositions: trades open or pending at once (0: no limit)'),
    dailyLossPct: limit('breakers.dailyLossPct: trip when the day loses this percent of its starting equity (0: off)').optional(),
    riskPerTradePct: limit('sizing.riskPerTradePct: percent of equity lost when the stop is hit').optional(),
  })
  .strict()
  .refine((r) => r.maxOpenPositions !== undefined || r.dailyLossPct !== undefined || r.riskPerTradePct !== undefined, {
    message: 'nothing to change: send maxOpenPositions, dailyLossPct and/or riskPerTradePct',
  });

/** The PATCH /config body that applies the form to the trade manager `agentId`. */
export function riskLimitsPatch(agentId: string, r: z.output<typeof riskLimitsRequestSchema>): unknown {
  const config: Record<string, unknown> = {};
  if (r.maxOpenPositions !== undefined) config.limits = { maxOpenPositions: r.maxOpenPositions };
  if (r.dailyLossPct !== undefined) config.breakers = { dailyLossPct: r.dailyLossPct };
  if (r.riskPerTradePct !== undefined) config.sizing = { riskPerTradePct: r.riskPerTradePct };
  return { agents: { [agentId]: { config } } };
}

export interface DashboardAppOptions {
  config: TradeMonitorConfig;
  snapshot: () => DashboardSnapshot;
  hub: SseHub;
  logger: Logger;
}

const REPORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.json$/;
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Host names the server answers to. Checking the Host header stops DNS rebinding: a web page on
 * another site that points its own name at 127.0.0.1 could otherwise read the dashboard's data.
 * Undefined (accept any) only when listening on a wildcard address with no allowedHosts.
 */
export function allowedHostNames(config: Pick<TradeMonitorConfig, 'host' | 'allowedHosts'>): Set<string> | undefined {
  const listen = config.host.toLowerCase();
  const wildcard = listen === '0.0.0.0' || listen === '::' || listen === '[::]';
  if (wildcard && config.allowedHosts.length === 0) return undefined;
  const names = new Set<string>([...LOOPBACK_NAMES, ...config.allowedHosts.map((h) => h.toLowerCase())]);
  if (!wildcard) names.add(isIP(listen) === 6 ? `[${listen}]` : listen);
  return names;
}

function hostnameOf(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

function parseOr400<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = formatZodIssues(result.error.issues).map((i) => ({ ...i, path: i.path ? `${where}.${i.path}` : where }));
  throw new HttpError(400, 'INVALID_REQUEST', `Invalid request ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

export function createDashboardApp(options: DashboardAppOptions): express.Express {
  const { config, hub, logger } = options;
  const hosts = allowedHostNames(config);
  const apiBase = config.apiUrl.replace(/\/+$/, '');
  const reportsDir = config.reportsDir === undefined ? undefined : resolve(config.reportsDir);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('etag', 'strong');

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()');
    res.setHeader('Cache-Control', 'no-store');
    if (hosts !== undefined) {
      const name = hostnameOf(req.headers.host);
      if (name === undefined || !hosts.has(name)) {
        throw new HttpError(421, 'HOST_NOT_ALLOWED', `This dashboard does not answer to host '${req.headers.host ?? ''}'. Open it by its address, or add the name to allowedHosts in the trade-monitor config.`);
      }
    }
    next();
  });

  app.get('/', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile('index.html', { root: PUBLIC_DIR });
  });
  app.get('/vendor/lightweight-charts.js', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/javascript').sendFile(chartLibraryPath());
  });
  app.use(
    express.static(PUBLIC_DIR, {
      index: false,
      dotfiles: 'ignore',
      redirect: false,
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  );

  app.get('/api/snapshot', (_req, res) => {
    res.json(options.snapshot());
  });

  app.get('/api/stream', (req, res) => {
    if (!hub.add(req, res, options.snapshot)) {
      throw new HttpError(503, 'TOO_MANY_STREAMS', `The dashboard already serves ${config.maxClients} live pages: close some, or raise maxClients.`);
    }
  });

  /** Refuses a request sent from another page than the dashboard's own (a cross-site form or script). */
  const fromDashboardOnly = (req: Request, refusal: string): void => {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null' && hostnameOf(req.headers.host) !== undefined && safeHost(origin) !== req.headers.host) {
      throw new HttpError(403, 'CROSS_ORIGIN', refusal);
    }
  };

  /**
   * Forwards an operator's request to the main API and passes its answer (or refusal) back. The
   * token goes through untouched and is never logged: the main API is the one that checks it. A
   * request that did not reach the API is an error saying that `subject` was not sent.
   */
  const forwardToApi = async (
    req: Request,
    res: Response,
    forward: { method: 'POST' | 'PATCH'; path: string; body: unknown; subject: string; unconfirmed: string; what: string; log: Record<string, unknown> },
  ): Promise<void> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
    let upstream: globalThis.Response;
    try {
      upstream = await fetch(`${apiBase}${forward.path}`, {
        method: forward.method,
        headers,
        body: JSON.stringify(forward.body),
        redirect: 'manual',
        signal: AbortSignal.timeout(config.forwardTimeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      logger.error({ ...forward.log, apiUrl: config.apiUrl, reason: (err as Error).message }, `${forward.what} not delivered`);
      throw timedOut
        ? new HttpError(504, 'API_TIMEOUT', `The main REST API at ${config.apiUrl} did not answer within ${config.forwardTimeoutMs} ms. ${forward.subject} was NOT confirmed: ${forward.unconfirmed}.`)
        : new HttpError(502, 'API_UNREACHABLE', `The main REST API at ${config.apiUrl} is unreachable (${(err as Error).message}). ${forward.subject} was NOT sent: check that the system runs with its API enabled and that apiUrl in the trade-monitor config points at it.`);
    }
    if (upstream.status >= 300 && upstream.status < 400) {
      throw new HttpError(502, 'API_REDIRECT', `The main REST API at ${config.apiUrl} answered with a redirect to '${upstream.headers.get('location') ?? '?'}'. ${forward.subject} was NOT sent: set apiUrl to the API's final address.`);
    }
    const text = await upstream.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = { error: { code: 'API_ERROR', message: text.trim().slice(0, 500) || `The main REST API answered ${upstream.status} with no body.` } };
    }
    logger.info({ ...forward.log, status: upstream.status }, `${forward.what} forwarded to the main API`);
    res.status(upstream.status).json(answer);
  };

  // The risk panel's form: forwarded as PATCH <apiUrl>/config, which checks the token, validates
  // the values with the trade manager's schema and applies them live (kept across restarts).
  app.post('/api/risk-limits', express.json({ limit: '4kb' }), async (req, res) => {
    fromDashboardOnly(req, 'Risk limits are only changed from the dashboard page itself.');
    if (!req.is('application/json')) {
      throw new HttpError(415, 'JSON_REQUIRED', 'Send the risk limits as JSON (Content-Type: application/json) with { "maxOpenPositions": 3, "dailyLossPct": 4, "riskPerTradePct": 0.5 } (any of them).');
    }
    const body = parseOr400(riskLimitsRequestSchema, req.body ?? {}, 'body');
    await forwardToApi(req, res, {
      method: 'PATCH',
      path: '/config',
      body: riskLimitsPatch(config.riskAgent, body),
      subject: 'The change',
      unconfirmed: `check GET ${config.apiUrl}/config before trying again`,
      what: 'risk limits',
      log: { agent: config.riskAgent, change: body },
    });
  });

  app.post('/api/kill-switch', express.json({ limit: '4kb' }), async (req, res) => {
    fromDashboardOnly(req, 'The kill switch only accepts requests from the dashboard page itself.');
    if (!req.is('application/json')) {
      throw new HttpError(415, 'JSON_REQUIRED', 'Send the kill-switch request as JSON (Content-Type: application/json) with { "action": "kill" | "flatten" | "resume", "reason": "..." }.');
    }
    const body = parseOr400(killSwitchRequestSchema, req.body ?? {}, 'body');
    await forwardToApi(req, res, {
      method: 'POST',
      path: '/kill-switch',
      body: { action: body.action, reason: body.reason, by: 'dashboard' },
      subject: 'The kill switch',
      unconfirmed: `retry, or use 'POST ${config.apiUrl}/kill-switch' directly`,
      what: 'kill switch',
      log: { action: body.action },
    });
  });

  app.get('/api/reports', async (_req, res) => {
    if (reportsDir === undefined) {
      res.json({ enabled: false, reports: [] });
      return;
    }
    const names = (await readdir(reportsDir).catch(() => [] as string[])).filter((n) => REPORT_NAME.test(n)).sort();
    const reports = await Promise.all(
      names.map(async (name) => {
        const info = await stat(join(reportsDir, name));
        return { name, url: `/reports/${encodeURIComponent(name)}`, size: info.size, modifiedAt: Math.round(info.mtimeMs) };
      }),
    );
    res.json({ enabled: true, reports });
  });

  app.get('/reports/:name', async (req, res) => {
    if (reportsDir === undefined) {
      throw new HttpError(404, 'REPORTS_DISABLED', 'No reports folder is configured: set reportsDir in the trade-monitor config to serve report files.');
    }
    const name = String(req.params.name);
    const path = resolve(reportsDir, name);
    if (!REPORT_NAME.test(name) || !path.startsWith(reportsDir + sep)) {
      throw new HttpError(400, 'REPORT_NAME_INVALID', `'${name}' is not a report file name: use letters, digits, '.', '_' or '-', ending in .json.`);
    }
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      throw new HttpError(404, 'REPORT_NOT_FOUND', `No report '${name}' in the reports folder. GET /api/reports lists the reports there.`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new HttpError(422, 'REPORT_INVALID', `Report '${name}' is not valid JSON (${(err as Error).message}).`);
    }
    const parsed = dashboardSnapshotSchema.safeParse(json);
    if (!parsed.success) {
      const issues = formatZodIssues(parsed.error.issues);
      throw new HttpError(422, 'REPORT_INVALID', `Report '${name}' does not match the snapshot format: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}. See docs/dashboard.md.`, issues);
    }
    res.json({ ...parsed.data, mode: 'report', title: parsed.data.title ?? name });
  });

  app.use((req: Request) => {
    throw new HttpError(404, 'NOT_FOUND', `No route ${req.method} ${req.path}. The dashboard is at /, its data at /api/snapshot and /api/stream.`);
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; type?: string; message?: string };
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: { code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) } });
    } else if (e.type === 'entity.too.large') {
      res.status(413).json({ error: { code: 'BODY_TOO_LARGE', message: 'The request body is too large for a kill-switch request.' } });
    } else if (e.type === 'entity.parse.failed') {
      res.status(400).json({ error: { code: 'INVALID_JSON', message: 'The request body is not valid JSON.' } });
    } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: { code: 'BAD_REQUEST', message: e.message ?? 'Bad request' } });
    } else {
      logger.error({ err, method: req.method, path: req.path }, 'dashboard request failed');
      res.status(500).json({ error: { code: 'INTERNAL', message: 'Internal error; the details are in the server log.' } });
    }
  });
  return app;
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
