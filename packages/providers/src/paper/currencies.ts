import { CurrencyConverter } from '@tradebus/core';
import { splitSymbol } from '../util/symbols.js';

export interface ConversionGap {
  /** A currency that could not be valued. */
  asset: string;
  /** The pair that would value it directly. */
  pair: string;
}

/**
 * The currencies of `symbols` and `balances` that no pair among `symbols` converts into
 * `accountCurrency` (directly, inverted, or through one currency in between).
 */
export function conversionGaps(accountCurrency: string, symbols: readonly string[], balances: readonly string[]): ConversionGap[] {
  const graph = new CurrencyConverter();
  const involved = new Set(balances);
  for (const symbol of symbols) {
    const { base, quote, settle } = splitSymbol(symbol);
    graph.update(symbol, 1);
    // A derivative settles in its settle currency and holds no base coins.
    if (settle === undefined) involved.add(base);
    if (quote !== '') involved.add(settle ?? quote);
  }
  const gaps: ConversionGap[] = [];
  for (const asset of [...involved].sort()) {
    if (graph.rate(asset, accountCurrency) === undefined) gaps.push({ asset, pair: `${asset}/${accountCurrency}` });
  }
  return gaps;
}
