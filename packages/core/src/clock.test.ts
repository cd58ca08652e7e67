import { describe, expect, it } from 'vitest';
import { VirtualClock, WallClock } from './clock.js';

describe('VirtualClock', () => {
  it('fires timers in time order, ties in creation order, only when advanced', () => {
    const clock = new VirtualClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@50'), 50);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('c@50'), 50);
    const cancelled = clock.setTimeout(() => fired.push('never'), 20);
    cancelled.cancel();
    expect(fired).toEqual([]);
    clock.advanceTo(149);
    expect(fired).toEqual(['a@10']);
    clock.advanceTo(150);
    expect(fired).toEqual(['a@10', 'b@50', 'c@50']);
    expect(clock.now()).toBe(150);
  });

  it('repeats intervals and shows the time of the firing inside the callback', () => {
    const clock = new VirtualClock(0);
    const times: number[] = [];
    const handle = clock.setInterval(() => times.push(clock.now()), 100);
    clock.advanceBy(350);
    handle.cancel();
    clock.advanceBy(1_000);
    expect(times).toEqual([100, 200, 300]);
  });

  it('with skipMissed, an interval the clock jumps past several times runs once, at the latest due time, in order with other timers', () => {
    const clock = new VirtualClock(0);
    const fired: string[] = [];
    clock.setInterval(() => fired.push(`skip@${clock.now()}`), 60, { skipMissed: true });
    clock.setInterval(() => fired.push(`every@${clock.now()}`), 100);
    clock.setTimeout(() => fired.push(`once@${clock.now()}`), 250);
    clock.advanceTo(300);
    expect(fired).toEqual(['every@100', 'every@200', 'once@250', 'skip@300', 'every@300']);
    fired.length = 0;
    // Stepping one period at a time it runs every time, as any interval does.
    clock.advanceTo(360);
    clock.advanceTo(420);
    expect(fired).toEqual(['skip@360', 'every@400', 'skip@420']);
    fired.length = 0;
    clock.advanceTo(479);
    expect(fired).toEqual([]);
    clock.advanceTo(1_000);
    expect(fired.filter((f) => f.startsWith('skip'))).toEqual(['skip@960']);
  });

  it('never moves backwards', () => {
    const clock = new VirtualClock(500);
    clock.advanceTo(100);
    expect(clock.now()).toBe(500);
  });

  it('resolves sleep when time passes', async () => {
    const clock = new VirtualClock(0);
    let done = false;
    const p = clock.sleep(1_000).then(() => (done = true));
    clock.advanceBy(999);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advanceBy(1);
    await p;
    expect(done).toBe(true);
  });
});

describe('WallClock', () => {
  it('reads the system time and runs timers', async () => {
    const clock = new WallClock();
    const before = Date.now();
    expect(clock.now()).toBeGreaterThanOrEqual(before);
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 5));
  });

  it('never serves a reading from before the event loop turned', async () => {
    const clock = new WallClock();
    const first = clock.now();
    await new Promise((r) => setTimeout(r, 15));
    expect(clock.now()).toBeGreaterThanOrEqual(first + 10);
  });
});
