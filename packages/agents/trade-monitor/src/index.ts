import { agent } from './agent.js';

export { agent, TradeMonitorAgent } from './agent.js';
export { tradeMonitorConfigSchema, bufferSizesSchema, type TradeMonitorConfig, type TradeMonitorConfigInput } from './config.js';
export { TradeMonitorError } from './errors.js';
export { MonitorState, type StateSettings } from './state.js';
export { AgentBoard } from './agent-board.js';
export { SseHub, type SseHubOptions } from './sse.js';
export { createDashboardApp, killSwitchRequestSchema, allowedHostNames, chartLibraryPath, CONTENT_SECURITY_POLICY, PUBLIC_DIR, HttpError, type DashboardAppOptions } from './server.js';
export { fetchAgents, fetchHistory, HISTORY_QUERIES, type HistoryPage, type KnownAgent } from './history.js';
export * from './snapshot.js';
export default agent;
