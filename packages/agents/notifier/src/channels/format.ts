import type { NotifierLevel, NotifierMessage } from '../channel.js';

export const LEVEL_ICON: Record<NotifierLevel, string> = { info: 'ℹ️', warning: '⚠️', error: '❗', critical: '🚨' };

/** Details as short `key: value` pairs for the services that show fields. */
export function detailFields(details: Record<string, unknown> | undefined): Array<[string, string]> {
  if (details === undefined) return [];
  return Object.entries(details)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
}

/** One plain-text rendering, for content fields, email bodies and fallbacks. */
export function plainText(message: NotifierMessage): string {
  const lines = [`${LEVEL_ICON[message.level]} [${message.level.toUpperCase()}] ${message.title}`, message.text];
  for (const [k, v] of detailFields(message.details)) lines.push(`${k}: ${v}`);
  lines.push(`code ${message.code} · ${new Date(message.timestamp).toISOString()}`);
  return lines.join('\n');
}
