import { describe, expect, it } from 'vitest';
import { consumerNames, natsAuthorization, natsPermissions } from './authorization.js';

const durable = ['order.*', 'trade.*', 'position.*', 'account.*'];

describe('natsPermissions', () => {
  it("gives an agent's process its own events, its own inbox and its own durable consumers, nothing else", () => {
    const [executor] = natsPermissions({
      prefix: 'tb.prod',
      users: [{ user: 'executor', passwordEnv: 'PASS_EXECUTOR', agents: [{ id: 'executor', bus: { publishes: ['order.updated'], subscribes: ['order.requested', 'price.tick'] } }] }],
    });
    expect(executor!.publish.sort()).toEqual(
      [
        'tb.prod.agent.heartbeat',
        'tb.prod.agent.status',
        'tb.prod.system.alert',
        'tb.prod.order.updated',
        '$JS.API.INFO',
        '$JS.API.STREAM.INFO.TB_PROD',
        '$JS.API.CONSUMER.INFO.TB_PROD.executor-order_requested',
        '$JS.API.CONSUMER.CREATE.TB_PROD.executor-order_requested',
        '$JS.API.CONSUMER.CREATE.TB_PROD.executor-order_requested.>',
        '$JS.API.CONSUMER.MSG.NEXT.TB_PROD.executor-order_requested',
        '$JS.ACK.TB_PROD.executor-order_requested.>',
      ].sort(),
    );
    expect(executor!.subscribe.sort()).toEqual(['_INBOX_executor.>', 'tb.prod.order.requested', 'tb.prod.price.tick'].sort());
    expect(executor!.allowResponses).toBe(false);
  });

  it('lets responders answer and report invalid requests, and requesters send them', () => {
    const [server, client] = natsPermissions({
      prefix: 'tb',
      durable: [],
      users: [
        { user: 'server', passwordEnv: 'P1', agents: [{ id: 's', bus: { responds: ['quote.get'] } }] },
        { user: 'client', passwordEnv: 'P2', agents: [{ id: 'c', bus: { requests: ['quote.get'] } }] },
      ],
    });
    expect(server!.subscribe).toContain('tb._req.quote.get');
    expect(server!.publish).toContain('tb._dlq.>');
    expect(server!.allowResponses).toBe(true);
    expect(client!.publish).toContain('tb._req.quote.get');
    expect(client!.publish).not.toContain('$JS.API.INFO');
  });

  it('names the durable consumers of wildcard and repeated subscriptions as the transport does', () => {
    expect(consumerNames('monitor', ['>'], durable)).toEqual(['monitor-order_STAR', 'monitor-trade_STAR', 'monitor-position_STAR', 'monitor-account_STAR']);
    expect(consumerNames('books', ['order.updated', 'order.updated', 'price.tick'], durable)).toEqual(['books-order_updated', 'books-order_updated-2']);
  });

  it('writes a server config that holds no password, only the variable that has it', () => {
    const text = natsAuthorization({ prefix: 'tb', users: [{ user: 'main', passwordEnv: 'TB_PASS_MAIN', recorder: true, agents: [] }] });
    expect(text).toMatch(/^authorization \{\n {2}users: \[/);
    expect(text).toContain('password: $TB_PASS_MAIN\n');
    expect(text).toContain('"$JS.API.STREAM.CREATE.TB_DLQ"');
    expect(text).toContain('"tb.>"');
  });

  it('refuses two processes with one user, and names that cannot be users or variables', () => {
    const agent = { id: 'a', bus: {} };
    expect(() => natsPermissions({ prefix: 'tb', users: [{ user: 'a', passwordEnv: 'P', agents: [agent] }, { user: 'a', passwordEnv: 'Q', agents: [] }] })).toThrow(/appears twice/);
    expect(() => natsPermissions({ prefix: 'tb', users: [{ user: 'a b', passwordEnv: 'P', agents: [] }] })).toThrow(/user name 'a b'/);
    expect(() => natsPermissions({ prefix: 'tb', users: [{ user: 'a', passwordEnv: '$P', agents: [] }] })).toThrow(/password variable/);
  });
});
