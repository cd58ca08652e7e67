interface StatusBody {
  status: string;
  agents: Array<{
    agentId: string;
    kind: string;
    status: string;
    uptimeMs: number;
    heartbeatAgeMs: number;
    errors: number;
    lastError?: string | undefined;
    eventsIn: number;
    eventsOut: number;
    pid: number;
    host: string;
    transport: string;
    /** Instance name when several processes run the agent (sharded). */
    instance?: string | undefined;
    shard?: { group: string; owned: string[]; members: number; keys: number } | undefined;
  }>;
}

function duration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

/** `3/10 BTC/USDT,ETH/USDT,SOL/USDT`: how many keys of the group the instance owns, and which (the first few). */
function shardCell(shard: StatusBody['agents'][number]['shard']): string {
  if (shard === undefined) return '';
  const shown = shard.owned.slice(0, 4).join(',');
  return `${shard.owned.length}/${shard.keys} ${shown}${shard.owned.length > 4 ? ',…' : ''}`;
}

/** `/agents/status` as an aligned text table. */
export function formatStatusTable(body: StatusBody): string {
  // The instance and shard columns appear only when some agent runs as several instances.
  const sharded = body.agents.some((a) => a.instance !== undefined);
  const header = ['AGENT', ...(sharded ? ['INSTANCE', 'SHARD'] : []), 'KIND', 'STATUS', 'UPTIME', 'HEARTBEAT', 'ERRORS', 'IN', 'OUT', 'PID', 'HOST', 'TRANSPORT', 'LAST ERROR'];
  const rows = body.agents.map((a) => [
    a.agentId,
    ...(sharded ? [a.instance ?? '', shardCell(a.shard)] : []),
    a.kind,
    a.status,
    duration(a.uptimeMs),
    `${duration(a.heartbeatAgeMs)} ago`,
    String(a.errors),
    String(a.eventsIn),
    String(a.eventsOut),
    String(a.pid),
    a.host,
    a.transport,
    (a.lastError ?? '').slice(0, 60),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `system: ${body.status}\n${[line(header), ...rows.map(line)].join('\n')}\n`;
}
