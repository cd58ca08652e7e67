import type { MarketDataFeed, Provider } from '@tradebus/providers';
import type { TradebusSystem } from '@tradebus/core';

/**
 * How a simulated market keeps pace with the system it feeds: after each moment it plays, the
 * replay waits until everything the moment set off has settled, so the next bar never arrives
 * while agents still work on the previous one. Used by backtests and by paper runs started by the
 * launcher alike.
 *
 * "Settled" means what someone waits for is done: agents report their own queued work (a save
 * they publish after, a venue call), the paper venue its fills waiting for their write, and the
 * data store its backlog. Writes nobody waits for (history, the replay's position) do not hold
 * the replay, as long as the disk keeps up with them.
 */

/** Something that can say when its queued work is done (agents that queue work, the paper venue). */
export interface Quiescent {
  whenIdle(): Promise<void>;
  /** Synchronous answer to "is anything queued, running or unsaved?", when it has one. */
  isIdle?(): boolean;
}

export function isQuiescent(value: unknown): value is Quiescent {
  return typeof (value as Partial<Quiescent> | undefined)?.whenIdle === 'function';
}

export const IDLE_MAX_TURNS = 10_000;
/** Pending requests that mean some reaction is still under way (DNS, sockets): a venue or feed over the network. */
const BUSY_RESOURCE = /^(GetAddrInfo|GetNameInfo|QueryReq|TCPConnectWrap|PipeConnectWrap|SendWrap|ShutdownWrap)/;

const immediate = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

function busyResources(): boolean {
  for (const r of process.getActiveResourcesInfo()) if (BUSY_RESOURCE.test(r)) return true;
  return false;
}

/** Microtask hops before the quick check: a handler's short await chains get to finish. */
const QUICK_HOPS = 4;

/** The quiescent parts of a system: agents that queue work, and any extra (providers, the data store). */
function quiescentParts(system: TradebusSystem, extra: readonly unknown[]): Quiescent[] {
  const agents = system.supervisor.list().map((a): unknown => system.agent(a.id));
  return [...agents, ...extra].filter(isQuiescent);
}

/**
 * A probe with the lists looked up once: agents do not come and go during a replay.
 *
 * With `quick`, a few microtask hops come first and then a check that costs no trip round the
 * event loop: no bus has a handler still running, every part that queues work says it is idle
 * (synchronously), and no network request is pending. Only when that check fails does the probe
 * wait turn by turn. Work started without the bus or an idle report knowing (a floating promise)
 * is not waited for there: agents track what they start.
 */
function idleProbe(system: TradebusSystem, extra: readonly unknown[]): (maxTurns: number, quick: boolean) => Promise<boolean> {
  let queued: Quiescent[] | undefined;
  let allReportIdle = false;
  const quiet = (): boolean => {
    if (!allReportIdle || system.pendingHandlers > 0) return false;
    for (const a of queued!) if (!a.isIdle!()) return false;
    return !busyResources();
  };
  return async (maxTurns, quick) => {
    if (queued === undefined) {
      queued = quiescentParts(system, extra);
      allReportIdle = queued.every((a) => typeof a.isIdle === 'function');
    }
    if (quick) {
      for (let hop = 0; hop < QUICK_HOPS; hop++) await undefined;
      if (quiet()) return true;
    }
    for (let turn = 0; turn < maxTurns; turn++) {
      await immediate();
      let waited = false;
      for (const a of queued) {
        if (a.isIdle?.() === true) continue;
        await a.whenIdle();
        waited = true;
      }
      if (busyResources() || system.pendingHandlers > 0) continue;
      if (!waited) return true;
      // whenIdle may have let more work in: one more turn confirms nothing is left.
      const before = busEvents(system);
      await immediate();
      if (busEvents(system) === before && !busyResources()) return true;
    }
    return false;
  };
}

/**
 * Waits until the system has finished reacting: every microtask and immediate has run (one turn
 * of the event loop), every part that queues work reports it done, and no network request is
 * pending. Returns false when that did not happen within `maxTurns` turns. `extra` adds parts
 * outside the agents (a paper venue, the data store's backlog).
 */
export async function waitUntilIdle(system: TradebusSystem, maxTurns = IDLE_MAX_TURNS, extra: readonly unknown[] = []): Promise<boolean> {
  return idleProbe(system, extra)(maxTurns, false);
}

/**
 * Holds a simulated market after each moment it plays until the system is idle again: the
 * replay runs as fast as the agents, never faster. Works for any system on the market's clock,
 * a backtest or a paper run started by the launcher.
 */
export function holdUntilIdle(
  market: { readonly feed?: MarketDataFeed | undefined },
  system: TradebusSystem,
  extra: readonly unknown[] = [],
): { release(): void; readonly stalls: number } {
  let stalls = 0;
  const probe = idleProbe(system, extra);
  const remove = market.feed!.addListener({
    step: async () => {
      if (!(await probe(IDLE_MAX_TURNS, true))) stalls++;
    },
  });
  return {
    release() {
      remove();
    },
    get stalls() {
      return stalls;
    },
  };
}

/** The providers among `providers` that report queued work of their own (a paper venue with books on disk). */
export function quiescentProviders(providers: Iterable<Provider>): Quiescent[] {
  const out: Quiescent[] = [];
  for (const p of providers) if (isQuiescent(p)) out.push(p);
  return out;
}

/** Events published by every agent and the system bus so far. */
export function busEvents(system: TradebusSystem): number {
  let n = system.bus.stats.eventsOut;
  for (const a of system.supervisor.list()) n += system.agent(a.id).metrics.eventsOut;
  return n;
}
