#!/usr/bin/env node
// The `tradebus` command. It lives outside dist/ so that npm can link it when the repository is
// installed, before the first build has produced the CLI it loads.
let cli;
try {
  cli = await import('../dist/cli.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write('tradebus is not built yet: run `npm run build` at the root of the repository (`npm start` builds too), then try again.\n');
    process.exit(1);
  }
  throw err;
}
cli.run();
