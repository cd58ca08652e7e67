import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources of the workspace packages (the `@tradebus/source`
// export condition), so `npm test` needs no build for in-process tests; tests that start real
// processes use the built `dist/` (npm test builds first).
export default defineConfig({
  resolve: { conditions: ['@tradebus/source'] },
  ssr: { resolve: { conditions: ['@tradebus/source'], externalConditions: ['@tradebus/source'] } },
  test: {
    include: ['packages/**/src/**/*.test.ts', 'tests/**/*.test.ts', 'examples/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
