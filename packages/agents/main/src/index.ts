export { buildCli, main } from './cli.js';
export { launchSystem, resolveApiToken, VERSION, type LaunchOptions, type RunningSystem } from './launcher.js';
export { prepareSystem, type PreparedAgent, type PreparedSystem } from './prepare.js';
export { resolveAgentDefinition, BUILTIN_AGENTS } from './resolve.js';
export { createApiApp, type ApiContext, type ApiDataSource } from './api/app.js';
export { SystemMetrics } from './api/metrics.js';
export { buildOpenApi } from './api/openapi.js';
export { formatStatusTable } from './status.js';
export * from './backtest/index.js';
