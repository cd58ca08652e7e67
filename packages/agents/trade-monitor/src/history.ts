import { z } from 'zod';
import type { Envelope, EventCatalogue } from '@tradebus/core';
import { TradeMonitorError } from './errors.js';

/** What the dashboard reloads on start: enough to show today's trading again after a restart. */
export const HISTORY_QUERIES: readonly (readonly string[])[] = [
  ['trade.opened', 'trade.closed', 'position.updated', 'order.updated', 'account.updated', 'risk.state', 'system.alert'],
  ['candle.closed'],
];

const historySchema = z.object({
  events: z.array(
    z.object({
      id: z.string().min(1),
      type: z.string().min(1),
      source: z.string(),
      ts: z.number().finite().nonnegative(),
      seq: z.number().int().nonnegative(),
      correlationId: z.string().optional(),
      causationId: z.string().optional(),
      payload: z.unknown(),
    }),
  ),
});

export interface HistoryPage {
  /** Valid events, oldest first. */
  events: Envelope[];
  /** Events dropped because their type is unknown here or their payload does not match its schema. */
  rejected: number;
}

/**
 * Reads recorded events from the main REST API (`GET /events/history`), newest `limit` first, and
 * validates every payload against the event catalogue: this is data from another process.
 */
export async function fetchHistory(
  apiUrl: string,
  types: readonly string[],
  options: { limit: number; signal: AbortSignal; timeoutMs: number; catalogue: EventCatalogue },
): Promise<HistoryPage> {
  const url = `${apiUrl.replace(/\/+$/, '')}/events/history?type=${encodeURIComponent(types.join(','))}&limit=${options.limit}&order=desc`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]), redirect: 'error' });
  } catch (err) {
    throw new TradeMonitorError('HISTORY_UNREACHABLE', `The main REST API at ${apiUrl} did not answer (${(err as Error).message}): check apiUrl in the trade-monitor config.`, { cause: err });
  }
  if (!res.ok) {
    throw new TradeMonitorError('HISTORY_UNAVAILABLE', `GET ${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }
  const parsed = historySchema.safeParse(await res.json());
  if (!parsed.success) {
    throw new TradeMonitorError('HISTORY_INVALID', `GET ${url} did not return { events: [...] } envelopes: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  const events: Envelope[] = [];
  let rejected = 0;
  for (const e of parsed.data.events) {
    const checked = options.catalogue.validate(e.type, e.payload);
    if (!checked.ok) {
      rejected++;
      continue;
    }
    events.push({ ...e, payload: checked.value });
  }
  events.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { events, rejected };
}

const agentsStatusSchema = z.object({
  agents: z.array(
    z.object({
      agentId: z.string().min(1),
      kind: z.string(),
      state: z.enum(['created', 'starting', 'running', 'degraded', 'stopping', 'stopped', 'failed']),
      detail: z.string().optional(),
      uptimeMs: z.number().nonnegative(),
      heartbeatAgeMs: z.number().nonnegative(),
      intervalMs: z.number().positive(),
      errors: z.number().int().nonnegative(),
      lastError: z.string().optional(),
      eventsIn: z.number().int().nonnegative(),
      eventsOut: z.number().int().nonnegative(),
      pid: z.number().int(),
      host: z.string(),
      transport: z.string(),
    }),
  ),
});

export type KnownAgent = z.output<typeof agentsStatusSchema>['agents'][number];

/**
 * The agents the system's health monitor knows (`GET /agents/status`): a dashboard that starts
 * after them would otherwise not list them until their next heartbeat.
 */
export async function fetchAgents(apiUrl: string, options: { signal: AbortSignal; timeoutMs: number }): Promise<KnownAgent[]> {
  const url = `${apiUrl.replace(/\/+$/, '')}/agents/status`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]), redirect: 'error' });
  } catch (err) {
    throw new TradeMonitorError('HISTORY_UNREACHABLE', `The main REST API at ${apiUrl} did not answer (${(err as Error).message}): check apiUrl in the trade-monitor config.`, { cause: err });
  }
  if (!res.ok) throw new TradeMonitorError('HISTORY_UNAVAILABLE', `GET ${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const parsed = agentsStatusSchema.safeParse(await res.json());
  if (!parsed.success) {
    throw new TradeMonitorError('HISTORY_INVALID', `GET ${url} did not return { agents: [...] }: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data.agents;
}
