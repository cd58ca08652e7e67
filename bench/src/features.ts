import { createFeaturePipeline, type FeatureBar, type FeatureConfigInput } from '@tradebus/models';
import { BollingerBands, EMA, MACD, RSI } from 'trading-signals';
import { readCandleCsv, type BenchModule, type BenchResult } from './types.js';

const PASSES = 100;
const ROUNDS = 7;
const PEER = 'trading-signals 8 (RSI, MACD, Bollinger only)';

/** 2,000 real 5-minute LTC/BTC bars, the same array for both sides. */
function loadBars(): FeatureBar[] {
  return readCandleCsv('packages/models/test-data/binance-LTC-BTC-5m.csv');
}

const indicators = { rsi: { type: 'rsi', period: 14 }, macd: { type: 'macd' }, bands: { type: 'bollinger', period: 20 } } as const;
const full: FeatureConfigInput = { returns: [1, 12, 48], volatility: [24], volumeZScore: [24], calendar: true, indicators };
const indicatorsOnly: FeatureConfigInput = { indicators };

function ours(config: FeatureConfigInput, bars: FeatureBar[]): number {
  const pipeline = createFeaturePipeline(config);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    pipeline.reset();
    for (let i = 0; i < bars.length; i++) {
      const vector = pipeline.update(bars[i]!);
      if (vector !== undefined) checksum += vector[0]!;
    }
  }
  return checksum;
}

function peer(bars: FeatureBar[]): number {
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    const rsi = new RSI(14);
    const macd = new MACD(new EMA(12), new EMA(26), new EMA(9));
    const bands = new BollingerBands(20, 2);
    for (let i = 0; i < bars.length; i++) {
      const close = bars[i]!.close;
      const r = rsi.add(close);
      const m = macd.add(close);
      const b = bands.add(close);
      if (r !== null && m !== null && b !== null) checksum += r + m.histogram + b.middle;
    }
  }
  return checksum;
}

/** Bars per second of one run (PASSES passes over the series). */
function rate(loop: (bars: FeatureBar[]) => number, bars: FeatureBar[]): number {
  const start = process.hrtime.bigint();
  const checksum = loop(bars);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (checksum === 0 || !Number.isFinite(checksum)) throw new Error('no feature values were produced');
  return (PASSES * bars.length) / seconds;
}

export async function run(): Promise<BenchResult[]> {
  const bars = loadBars();
  const width = createFeaturePipeline(full).names.length;
  const cases = [
    { name: `feature vector (${width} features: returns ×3, volatility, volume z-score, calendar, RSI, MACD, Bollinger) per closed bar`, ours: (b: FeatureBar[]) => ours(full, b) },
    { name: 'feature vector of the three indicators alone (RSI, MACD, Bollinger) per closed bar', ours: (b: FeatureBar[]) => ours(indicatorsOnly, b) },
  ];
  const results: BenchResult[] = [];
  for (const c of cases) {
    rate(c.ours, bars);
    rate(peer, bars);
    let best = 0;
    let bestPeer = 0;
    for (let round = 0; round < ROUNDS; round++) {
      best = Math.max(best, rate(c.ours, bars));
      bestPeer = Math.max(bestPeer, rate(peer, bars));
    }
    results.push({ name: c.name, ours: best, peer: bestPeer, peerName: PEER, unit: 'bars/s', ratio: best / bestPeer });
  }
  return results;
}

const bench: BenchModule = {
  title: 'Feature pipeline (models)',
  description:
    'A model feature pipeline of `@tradebus/models` fed 2,000 real LTC/BTC 5-minute bars ' +
    `${PASSES} times (reset between passes), against trading-signals' streaming RSI, MACD and Bollinger bands ` +
    'fed the same closes: the peer computes the three indicators only, so the first row shows what the other ' +
    'features and the vector cost on top, the second the pipeline with just those indicators. ' +
    `Best of ${ROUNDS} rounds, ours and the peer interleaved.`,
  run,
};

export default bench;
