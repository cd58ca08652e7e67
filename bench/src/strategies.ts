import { createStrategy, type StrategyCandle } from '@tradebus/strategies';
import { readCandleCsv, type BenchModule, type BenchResult } from './types.js';

const ROUNDS = 5;
const PAIRS = ['ADA', 'DASH', 'ETC', 'ETH', 'LTC', 'TRX', 'XLM', 'XMR', 'ZEC'];

function load(pair: string): StrategyCandle[] {
  return readCandleCsv(`packages/strategies/test-data/binance-${pair}-BTC-5m.csv`).map((bar) => ({ symbol: `${pair}/BTC`, timeframe: '5m', ...bar }));
}

/** Closed bars per second through a fresh strategy built from `config`, signals counted so nothing is optimised away. */
function rate(config: Record<string, unknown>, bars: readonly StrategyCandle[]): number {
  const strategy = createStrategy(config);
  let signals = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < bars.length; i++) signals += strategy.onCandle(bars[i]!).length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (signals < 0) throw new Error('unreachable');
  return bars.length / seconds;
}

const plainCross = { type: 'ema-cross', timeframe: '5m' };

const module: BenchModule = {
  title: 'Strategies: higher timeframes and cross-symbol reads',
  description:
    'Closed 5-minute bars per second through one strategy instance (`onCandle`, signals built), on the real Binance candles of ' +
    '`packages/strategies/test-data`: one pair (ETH/BTC, 5,760 bars) or all nine BTC pairs in time order (50,886 bars). The peer ' +
    'is our own plain `ema-cross` on the same bars, so the ratio is what the extra reading costs (below 1 = slower).',
  async run(): Promise<BenchResult[]> {
    const eth = load('ETH');
    const universe = PAIRS.flatMap(load).sort((a, b) => a.timestamp - b.timestamp || a.symbol.localeCompare(b.symbol));
    const cases = [
      { name: 'ema-cross + 1h trend filter (EMA 50), 1 pair', config: { ...plainCross, trendFilter: { timeframe: '1h', ema: 50 } }, bars: eth },
      { name: 'ema-cross + 1d trend filter (EMA 5), 1 pair', config: { ...plainCross, trendFilter: { timeframe: '1d', ema: 5 } }, bars: eth },
      { name: 'zweig-breadth, 9 pairs', config: { type: 'zweig-breadth', timeframe: '5m' }, bars: universe },
      { name: 'bts-lynch, 9 pairs', config: { type: 'bts-lynch', timeframe: '5m' }, bars: universe },
    ];
    const results: BenchResult[] = [];
    for (const c of cases) {
      // Warm both sides so the JIT has compiled them before measuring.
      rate(c.config, c.bars);
      rate(plainCross, c.bars);
      // Rounds alternate between the two sides, so a busy moment of the machine hits both alike.
      let ours = 0;
      let peer = 0;
      for (let round = 0; round < ROUNDS; round++) {
        ours = Math.max(ours, rate(c.config, c.bars));
        peer = Math.max(peer, rate(plainCross, c.bars));
      }
      results.push({ name: c.name, ours, peer, peerName: 'plain ema-cross', unit: 'bars/s', ratio: ours / peer });
    }
    return results;
  },
};

export default module;
