import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EMA, RSI } from '@tradebus/indicators';
import { EMA as PeerEMA, RSI as PeerRSI } from 'trading-signals';
import type { BenchModule, BenchResult } from './types.js';

const PASSES = 200;
const ROUNDS = 7;
const EMA_PERIOD = 12;
const RSI_PERIOD = 14;
const PEER = 'trading-signals 8 (streaming class)';

/** 5,760 real 5-minute ETH/BTC closes, the same array for both libraries. */
function loadCloses(): number[] {
  const file = fileURLToPath(
    new URL('../../packages/indicators/test-data/binance-ETH-BTC-5m.csv', import.meta.url),
  );
  const rows = readFileSync(file, 'utf8').trim().split(/\r?\n/).slice(1);
  return rows.map((row) => Number(row.split(',')[4]));
}

type Mode = 'update' | 'forming';

/*
 * One hand-written loop per library, indicator and mode, so each call site sees a single class
 * and the JIT can inline it as it would in a strategy holding a typed indicator; a shared loop
 * would mostly measure a polymorphic call.
 */

function oursEmaUpdate(closes: number[]): number {
  const indicator = new EMA(EMA_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const value = indicator.update(closes[i]!);
      if (value !== undefined) checksum += value;
    }
  }
  return checksum;
}

function peerEmaUpdate(closes: number[]): number {
  const indicator = new PeerEMA(EMA_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const value = indicator.add(closes[i]!);
      if (value !== null) checksum += value;
    }
  }
  return checksum;
}

function oursRsiUpdate(closes: number[]): number {
  const indicator = new RSI(RSI_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const value = indicator.update(closes[i]!);
      if (value !== undefined) checksum += value;
    }
  }
  return checksum;
}

function peerRsiUpdate(closes: number[]): number {
  const indicator = new PeerRSI(RSI_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const value = indicator.add(closes[i]!);
      if (value !== null) checksum += value;
    }
  }
  return checksum;
}

function oursEmaForming(closes: number[]): number {
  const indicator = new EMA(EMA_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const close = closes[i]!;
      indicator.update(close * 0.999);
      indicator.replaceLast(close * 1.001);
      indicator.replaceLast(close * 0.9995);
      const value = indicator.replaceLast(close);
      if (value !== undefined) checksum += value;
    }
  }
  return checksum;
}

function peerEmaForming(closes: number[]): number {
  const indicator = new PeerEMA(EMA_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const close = closes[i]!;
      indicator.add(close * 0.999);
      indicator.replace(close * 1.001);
      indicator.replace(close * 0.9995);
      const value = indicator.replace(close);
      if (value !== null) checksum += value;
    }
  }
  return checksum;
}

function oursRsiForming(closes: number[]): number {
  const indicator = new RSI(RSI_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const close = closes[i]!;
      indicator.update(close * 0.999);
      indicator.replaceLast(close * 1.001);
      indicator.replaceLast(close * 0.9995);
      const value = indicator.replaceLast(close);
      if (value !== undefined) checksum += value;
    }
  }
  return checksum;
}

function peerRsiForming(closes: number[]): number {
  const indicator = new PeerRSI(RSI_PERIOD);
  let checksum = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < closes.length; i++) {
      const close = closes[i]!;
      indicator.add(close * 0.999);
      indicator.replace(close * 1.001);
      indicator.replace(close * 0.9995);
      const value = indicator.replace(close);
      if (value !== null) checksum += value;
    }
  }
  return checksum;
}

/** Calls per second of one full run (PASSES passes over the series through a fresh indicator). */
function rate(loop: (closes: number[]) => number, mode: Mode, closes: number[]): number {
  const start = process.hrtime.bigint();
  const checksum = loop(closes);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (!(checksum > 0)) throw new Error('indicator produced no values');
  return (PASSES * closes.length * (mode === 'update' ? 1 : 4)) / seconds;
}

function sameResults(closes: number[]): void {
  // Both EMAs seed with the first value, so on the same input they must agree; a mismatch would
  // mean the two sides are not computing the same thing.
  const a = new EMA(EMA_PERIOD);
  const b = new PeerEMA(EMA_PERIOD);
  let ourLast = 0;
  let peerLast = 0;
  for (const value of closes) {
    ourLast = a.update(value) ?? 0;
    peerLast = b.add(value) ?? 0;
  }
  if (Math.abs(ourLast - peerLast) > 1e-12 * Math.abs(peerLast)) {
    throw new Error(`EMA disagrees with trading-signals: ${ourLast} vs ${peerLast}`);
  }
}

export async function run(): Promise<BenchResult[]> {
  const closes = loadCloses();
  sameResults(closes);
  const cases = [
    { name: `EMA(${EMA_PERIOD}) update`, mode: 'update', ours: oursEmaUpdate, peer: peerEmaUpdate },
    { name: `RSI(${RSI_PERIOD}) update`, mode: 'update', ours: oursRsiUpdate, peer: peerRsiUpdate },
    {
      name: `EMA(${EMA_PERIOD}) forming candle: update + 3 × replaceLast`,
      mode: 'forming',
      ours: oursEmaForming,
      peer: peerEmaForming,
    },
    {
      name: `RSI(${RSI_PERIOD}) forming candle: update + 3 × replaceLast`,
      mode: 'forming',
      ours: oursRsiForming,
      peer: peerRsiForming,
    },
  ] as const;
  const results: BenchResult[] = [];
  for (const c of cases) {
    // Warm both sides so the JIT has compiled them before measuring.
    rate(c.ours, c.mode, closes);
    rate(c.peer, c.mode, closes);
    let best = 0;
    let bestPeer = 0;
    for (let round = 0; round < ROUNDS; round++) {
      best = Math.max(best, rate(c.ours, c.mode, closes));
      bestPeer = Math.max(bestPeer, rate(c.peer, c.mode, closes));
    }
    results.push({
      name: c.name,
      ours: best,
      peer: bestPeer,
      peerName: PEER,
      unit: 'calls/s',
      ratio: best / bestPeer,
      ...(c.mode === 'forming' ? { notes: 'the rate counts all four calls; trading-signals does add + 3 × replace' } : {}),
    });
  }
  return results;
}

const bench: BenchModule = {
  title: 'Indicators (streaming)',
  target: '≥ 1.0× trading-signals on EMA and RSI updates',
  description:
    'Streaming updates of `@tradebus/indicators` against trading-signals\' streaming classes, fed the same ' +
    `5,760 real ETH/BTC 5-minute closes ${PASSES} times through a fresh instance per round (plain numbers in, ` +
    'numbers out, values consumed). The forming-candle rows rewrite the last value three times before it closes, ' +
    `as a live feed does. Best of ${ROUNDS} rounds, ours and the peer interleaved. Before measuring, the run checks ` +
    'that both EMAs end on the same value.',
  run,
};

export default bench;
