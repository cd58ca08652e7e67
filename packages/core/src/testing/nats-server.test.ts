import { describe, expect, it } from 'vitest';
import { NatsServer } from './index.js';

describe('NatsServer', () => {
  it('leaves no timer behind once disposed, so a script that used it exits at once', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const server = await NatsServer.start();
    await server.stop('SIGKILL');
    await server.restart();
    await server.dispose();
    expect(timers()).toBeLessThanOrEqual(before);
  });
});
