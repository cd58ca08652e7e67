import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configReferenceMarkdown, eventCatalogueMarkdown } from './generate.js';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');

describe('generated docs', () => {
  it('docs/events.md matches the event schemas (run `npm run docs` after changing them)', () => {
    expect(readFileSync(join(docs, 'events.md'), 'utf8')).toBe(eventCatalogueMarkdown());
  });

  it('docs/configuration.md matches the config schema (run `npm run docs` after changing it)', () => {
    expect(readFileSync(join(docs, 'configuration.md'), 'utf8')).toBe(configReferenceMarkdown());
  });
});
