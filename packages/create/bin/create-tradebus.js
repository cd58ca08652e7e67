#!/usr/bin/env node
// The `create-tradebus` command (`npm create @tradebus`). It lives outside dist/ so that npm can
// link it when the repository is installed, before the first build has produced the CLI.
const { run } = await import('../dist/cli.js');
process.exitCode = await run(process.argv.slice(2));
