import { z } from 'zod';
import type { EventCatalogue } from '@tradebus/core';
import { configPatchSchema, eventsQuerySchema, killSwitchSchema, listQuerySchema, watchdogReportQuerySchema } from './schemas.js';

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
}

function queryParameters(schema: z.ZodObject): JsonSchema[] {
  const json = schemaOf(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

const errorResponse = {
  description: 'Error',
  content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, issues: { type: 'array' } } } } } } },
};
const json = (description: string, schema: JsonSchema = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const secured = { security: [{ bearer: [] }], responses: { '401': errorResponse, '403': errorResponse, '400': errorResponse, '413': errorResponse, '415': errorResponse } };

/** OpenAPI 3.1 document of the REST API, generated from the same zod schemas that validate requests and events. */
export function buildOpenApi(catalogue: EventCatalogue, version: string): JsonSchema {
  const events: Record<string, JsonSchema> = {};
  for (const name of catalogue.names()) events[`event:${name}`] = schemaOf(catalogue.schema(name));
  return {
    openapi: '3.1.0',
    info: { title: 'Tradebus system API', version },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: events,
    },
    paths: {
      '/health': { get: { summary: 'Liveness: 200 while the system is ok or degraded, 503 when down', responses: { '200': json('ok or degraded'), '503': json('down') } } },
      '/system/status': { get: { summary: 'System summary', responses: { '200': json('status') } } },
      '/agents/status': { get: { summary: 'Every agent seen on the bus, from heartbeats', responses: { '200': json('agents') } } },
      '/events/history': { get: { summary: 'Journalled events', parameters: queryParameters(eventsQuerySchema), responses: { '200': json('events'), '400': errorResponse } } },
      '/config': {
        get: {
          summary: 'The running configuration, secrets redacted (needs the API token: it maps the deployment)',
          security: secured.security,
          responses: { '200': json('config'), '401': errorResponse, '403': errorResponse },
        },
        patch: {
          summary: 'Change the hot-reloadable part of the configuration (recorded as a config.changed event)',
          description:
            'Only the settings each agent applies while running (GET /config/hot): another key is a 400 naming it. Merged key by key, all or nothing across agents, kept in <data.dir>/config-overrides.json and applied again on every start',
          requestBody: { required: true, content: { 'application/json': { schema: schemaOf(configPatchSchema, 'input') } } },
          ...secured,
          responses: { '200': json('applied changes'), '409': errorResponse, ...secured.responses },
        },
      },
      '/config/hot': {
        get: {
          summary: 'The settings PATCH /config accepts, per agent id (patterns: a.* is everything under a, a[].b.* everything under b of any element of the list a)',
          security: secured.security,
          responses: { '200': json('hot settings per agent'), '401': errorResponse, '403': errorResponse },
        },
      },
      '/agents/{id}/{action}': {
        post: {
          summary: 'Start, stop or restart an agent of this process',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'action', in: 'path', required: true, schema: { enum: ['start', 'stop', 'restart'] } },
          ],
          ...secured,
          responses: { '200': json('new state'), '404': errorResponse, '409': errorResponse, ...secured.responses },
        },
      },
      '/orders': { get: { summary: 'Orders (latest state of each)', parameters: queryParameters(listQuerySchema), responses: { '200': json('orders') } } },
      '/trades': { get: { summary: 'Closed trades', parameters: queryParameters(listQuerySchema), responses: { '200': json('trades') } } },
      '/positions': { get: { summary: 'Open positions', responses: { '200': json('positions') } } },
      '/account': { get: { summary: 'Latest account snapshot', responses: { '200': json('account') } } },
      '/kill-switch': {
        post: {
          summary: 'Halt new entries (kill), resume, go reducing-only, or reset circuit breakers; sent to the trade manager as risk.command',
          requestBody: { required: true, content: { 'application/json': { schema: schemaOf(killSwitchSchema, 'input') } } },
          ...secured,
          responses: { '202': json('accepted'), ...secured.responses },
        },
      },
      '/watchdog/report': {
        get: {
          summary: "The profit watchdog's latest figures: decision quality per strategy, symbol and regime, drift, recommendations with their evidence, auto-tune changes",
          parameters: queryParameters(watchdogReportQuerySchema),
          responses: { '200': json('watchdog.report', { $ref: '#/components/schemas/event:watchdog.report' }), '400': errorResponse, '404': errorResponse },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format', content: { 'text/plain': {} } } } } },
      '/perf': {
        get: {
          summary: 'Decision pipeline timings',
          description: 'Per stage (candle→signal, signal→decision, decision→order, order→venue answer, whole cycle): count, p50, p90, p99 and max over api.perf.windowMs, with the threshold that raises PERF_SLOW; the last flows; process memory',
          responses: { '200': json('Stage timings') },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': json('OpenAPI document') } } },
    },
  };
}
