import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configReferenceMarkdown, eventCatalogueMarkdown } from './generate.js';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs');
writeFileSync(join(docs, 'events.md'), eventCatalogueMarkdown());
writeFileSync(join(docs, 'configuration.md'), configReferenceMarkdown());
process.stdout.write(`wrote ${join(docs, 'events.md')} and ${join(docs, 'configuration.md')}\n`);
