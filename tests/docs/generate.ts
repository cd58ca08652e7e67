import { z } from 'zod';
import { builtinEvents, systemConfigSchema } from '@tradebus/core';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  pattern?: string;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'any'}[]`;
  if (s.type === 'object' && !s.properties && s.additionalProperties && typeof s.additionalProperties === 'object') {
    return `map of ${typeOf(s.additionalProperties)}`;
  }
  if (Array.isArray(s.type)) return s.type.join(' \\| ');
  return s.type ?? 'any';
}

function constraints(s: JsonSchema): string {
  const parts: string[] = [];
  if (s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined && s.minLength > 0) parts.push(`min length ${s.minLength}`);
  if (s.pattern !== undefined) parts.push(`pattern \`${s.pattern}\``);
  return parts.join(', ');
}

/** Flattens an object schema into rows: dotted path, type, required, default, description. */
function rows(schema: JsonSchema, prefix = ''): string[][] {
  const out: string[][] = [];
  const props = schema.properties ?? {};
  for (const [key, raw] of Object.entries(props)) {
    const s = (raw.anyOf?.length === 2 && raw.anyOf.some((a) => a.type === 'null') ? raw : raw) as JsonSchema;
    const path = prefix ? `${prefix}.${key}` : key;
    const required = schema.required?.includes(key) ?? false;
    const desc = [s.description ?? '', constraints(s)].filter(Boolean).join(' — ');
    const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
    out.push([`\`${path}\``, typeOf(s), required && s.default === undefined ? 'yes' : '', def, desc.replace(/\|/g, '\\|')]);
    if (s.type === 'object' && s.properties) out.push(...rows(s, path));
    if (s.type === 'array' && s.items?.type === 'object' && s.items.properties) out.push(...rows(s.items, `${path}[]`));
    for (const alt of s.anyOf ?? s.oneOf ?? []) {
      if (alt.type === 'object' && alt.properties) out.push(...rows(alt, path));
    }
  }
  return out;
}

function table(header: string[], body: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const GENERATED = '<!-- Generated from the zod schemas by `npm run docs`; a test fails when this file is out of date. -->';

export function eventCatalogueMarkdown(): string {
  const parts = [
    '# Event catalogue',
    '',
    GENERATED,
    '',
    'Every event is a zod schema in `packages/core/src/events/builtin.ts`; the TypeScript types are inferred from them.',
    'Each travels in an envelope (`id`, `type`, `source`, `ts`, `seq`, `correlationId`, `causationId`, `payload`): see docs/architecture.md.',
    'Timestamps are epoch milliseconds.',
    '',
  ];
  for (const name of Object.keys(builtinEvents).sort()) {
    const schema = builtinEvents[name as keyof typeof builtinEvents] as z.ZodType;
    const json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
    parts.push(`## \`${name}\``, '');
    if (json.description) parts.push(json.description, '');
    parts.push(table(['field', 'type', 'required', 'default', 'description'], rows(json).map((r) => [r[0]!, r[1]!, r[2]!, r[3]!, r[4]!])), '');
  }
  return parts.join('\n');
}

export function configReferenceMarkdown(): string {
  const json = z.toJSONSchema(systemConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return [
    '# Configuration reference',
    '',
    GENERATED,
    '',
    'One YAML or JSON file, validated by `systemConfigSchema` in `packages/core/src/config/schema.ts`. Unknown keys are errors.',
    'Each agent validates its own `agents[].config` with its schema (see docs/agents.md); each provider kind its `providers.<name>` entry (docs/providers.md).',
    '',
    '## Secrets and environment',
    '',
    '- A string value `${NAME}` is replaced by the environment variable `NAME` (an error names the key when it is not set); `${NAME:-fallback}` uses `fallback` when `NAME` is unset or empty.',
    '- `TRADEBUS__SECTION__KEY=value` overrides `section.key` (double underscores between keys, `SNAKE_CASE` becomes `camelCase`; JSON values are parsed).',
    '- `TRADEBUS_API_TOKEN` sets the REST API token.',
    '',
    '## Changes made while running',
    '',
    'Settings changed with `PATCH /config` (only those each agent applies live: `GET /config/hot`) are kept in `<data.dir>/config-overrides.json` and applied over the file on every start; `GET /config` shows the settings in force. Remove that file (or change the setting back) to return to what the config file says. See docs/operations.md, "Changing settings while running".',
    '',
    '## Keys',
    '',
    table(['key', 'type', 'required', 'default', 'description'], rows(json)),
    '',
  ].join('\n');
}
