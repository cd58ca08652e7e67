import { AgentStateError } from '../errors.js';

export type AgentState = 'created' | 'starting' | 'running' | 'degraded' | 'stopping' | 'stopped' | 'failed';

const ALLOWED: Record<AgentState, readonly AgentState[]> = {
  created: ['starting', 'stopped'],
  starting: ['running', 'failed', 'stopping'],
  running: ['degraded', 'stopping', 'failed'],
  degraded: ['running', 'stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: ['starting'],
  failed: ['starting', 'stopping', 'stopped'],
};

export function canTransition(from: AgentState, to: AgentState): boolean {
  return ALLOWED[from].includes(to);
}

export function assertTransition(agentId: string, from: AgentState, to: AgentState): void {
  if (!canTransition(from, to)) throw new AgentStateError(agentId, from, to);
}
