import { describe, expect, it } from 'vitest';
import { formatStatusTable } from './status.js';

const agent = { kind: 'strategy-runner', status: 'ok', uptimeMs: 65_000, heartbeatAgeMs: 300, errors: 0, eventsIn: 10, eventsOut: 4, pid: 41, transport: 'nats' };

describe('tradebus status table', () => {
  it('lists every instance of a sharded agent with its host and the symbols it owns', () => {
    const text = formatStatusTable({
      status: 'ok',
      agents: [
        { ...agent, agentId: 'strategy', host: 'box-a', instance: 'r1', shard: { group: 'strategy', owned: ['BTC/USDT', 'ETH/USDT'], members: 2, keys: 3 } },
        { ...agent, agentId: 'strategy', host: 'box-b', instance: 'r2', shard: { group: 'strategy', owned: ['SOL/USDT'], members: 2, keys: 3 } },
        { ...agent, agentId: 'manager', kind: 'trade-manager', host: 'box-a' },
      ],
    });
    const lines = text.trimEnd().split('\n');
    expect(lines[1]!.split(/\s{2,}/).slice(0, 4)).toEqual(['AGENT', 'INSTANCE', 'SHARD', 'KIND']);
    expect(lines[2]).toMatch(/^strategy\s+r1\s+2\/3 BTC\/USDT,ETH\/USDT\s+strategy-runner\s+ok.*box-a/);
    expect(lines[3]).toMatch(/^strategy\s+r2\s+1\/3 SOL\/USDT\s+strategy-runner\s+ok.*box-b/);
    expect(lines[4]).toMatch(/^manager\s+trade-manager/);
  });

  it('has no instance columns when nothing is sharded', () => {
    const text = formatStatusTable({ status: 'ok', agents: [{ ...agent, agentId: 'manager', host: 'box-a' }] });
    expect(text).not.toContain('INSTANCE');
  });
});
