import { VirtualClock, silentLogger } from '@tradebus/core';
import { createProviders, timeframeToMs, type Candle } from '@tradebus/providers';
import type { PreparedSystem } from '../../prepare.js';
import { describeMarket, type SimulatedMarket } from '../engine.js';
import { ScreenUnsupportedError } from './errors.js';

/**
 * The market a screen plays: the bars the backtest's replay (or synthetic) provider would play,
 * grouped into the same moments, and the history its agents warm up on. Loaded once per worker
 * and shared by every parameter combination that does not change the market provider.
 */

export interface Moment {
  /** Clock time of the moment: the close of its bars. */
  time: number;
  /** The bars closing now, in the order the replay hands them out. */
  bars: Candle[];
  /**
   * Which of `bars` follow a gap in their series. The price watchdog looks for the missing bars
   * before it publishes such a bar, so the agents hear of it after the rest of the moment.
   */
  late?: boolean[] | undefined;
}

export interface ScreenMarket {
  marketName: string;
  /** Finest bar length of the data: the equity curve's sampling interval. */
  barIntervalMs: number;
  /** Clock time when the replay starts playing (end of the warm-up history). */
  startTime: number;
  moments: Moment[];
  /** Closed bars before the start, per `symbol|timeframe`, oldest first. */
  history: Map<string, Candle[]>;
  /** Timeframes present in the data, per symbol. */
  timeframes: Map<string, Set<string>>;
}

export const seriesKey = (symbol: string, timeframe: string): string => `${symbol}|${timeframe}`;

/** Bars of history kept per series: the most the strategy runner ever asks for, plus its margin. */
const HISTORY_BARS = 5_000 + 10;

/**
 * Plays the market provider of `prepared` on a virtual clock with no agents attached and records
 * what it hands out. The provider is the one a backtest creates, so warm-up, `startAt`, `endAt`,
 * gaps and the order of records are the backtest's own.
 */
export async function loadScreenMarket(prepared: PreparedSystem): Promise<ScreenMarket> {
  const setup = describeMarket(prepared);
  const raw = prepared.config.providers[setup.marketName] as Record<string, unknown>;
  if (raw.kind === 'replay') {
    const sources = (raw.sources as Array<{ type: string }> | undefined) ?? [];
    if (sources.some((s) => s.type === 'trades')) {
      throw new ScreenUnsupportedError(`providers.${setup.marketName}.sources`, 'trade (tick) sources are not modelled by the screen; it plays candles only');
    }
  }
  const clock = new VirtualClock(0);
  const providers = createProviders({ [setup.marketName]: raw }, { clock, logger: silentLogger(), configFile: prepared.source });
  const market = providers.get(setup.marketName) as SimulatedMarket;
  try {
    await market.load?.();
    const startTime = clock.now();
    const timeframes = new Map<string, Set<string>>();
    const moments: Moment[] = [];
    let current: Moment | undefined;
    const remove = market.feed!.addListener({
      candle: (c: Candle) => {
        const time = clock.now();
        if (current === undefined || current.time !== time) moments.push((current = { time, bars: [] }));
        current.bars.push(c);
        let tfs = timeframes.get(c.symbol);
        if (tfs === undefined) timeframes.set(c.symbol, (tfs = new Set()));
        tfs.add(c.timeframe);
      },
      // Nobody reacts: no need to give reactions an event-loop turn after each moment.
      step: () => undefined,
    });
    const history = new Map<string, Candle[]>();
    for (const symbol of setup.symbols) {
      for (const tf of historyTimeframes(raw, symbol)) {
        history.set(seriesKey(symbol, tf), await market.marketData!.fetchOHLCV(symbol, tf, undefined, HISTORY_BARS));
      }
    }
    try {
      await market.start();
    } finally {
      remove();
    }
    markLate(moments);
    for (const [key, bars] of history) {
      const [symbol, tf] = key.split('|') as [string, string];
      if (bars.length > 0) (timeframes.get(symbol) ?? timeframes.set(symbol, new Set()).get(symbol)!).add(tf);
    }
    return { marketName: setup.marketName, barIntervalMs: setup.barIntervalMs, startTime, moments, history, timeframes };
  } finally {
    for (const p of providers.values()) await p.close().catch(() => undefined);
  }
}

/** Flags the bars that come more than one bar length after the previous bar of their series. */
function markLate(moments: Moment[]): void {
  const previous = new Map<string, number>();
  const lengths = new Map<string, number>();
  for (const moment of moments) {
    moment.bars.forEach((bar, i) => {
      const key = seriesKey(bar.symbol, bar.timeframe);
      const before = previous.get(key);
      previous.set(key, bar.timestamp);
      let length = lengths.get(bar.timeframe);
      if (length === undefined) lengths.set(bar.timeframe, (length = timeframeToMs(bar.timeframe)));
      if (before === undefined || bar.timestamp - before <= length) return;
      (moment.late ??= new Array<boolean>(moment.bars.length).fill(false))[i] = true;
    });
  }
}

/** Timeframes the data of `symbol` comes in, as the config says. */
function historyTimeframes(raw: Record<string, unknown>, symbol: string): string[] {
  if (raw.kind === 'replay') {
    const out = new Set<string>();
    for (const s of (raw.sources as Array<{ symbol: string; timeframe?: string }> | undefined) ?? []) {
      if (s.symbol === symbol && s.timeframe !== undefined) out.add(s.timeframe);
    }
    return [...out];
  }
  return [typeof raw.timeframe === 'string' ? raw.timeframe : '1m'];
}
