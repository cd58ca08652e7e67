/** Base and quote currency of a unified symbol (`XRP/USDT:USDT` settles in its quote). */
function currenciesOf(symbol: string): { base: string; quote: string } | undefined {
  const pair = symbol.split(':', 1)[0]!;
  const slash = pair.indexOf('/');
  if (slash <= 0 || slash === pair.length - 1) return undefined;
  return { base: pair.slice(0, slash), quote: pair.slice(slash + 1) };
}

/**
 * Conversion between currencies from the prices of traded pairs: `ETH` in `USDT` from ETH/USDT,
 * from USDT/ETH inverted, or through one currency in between (ETH/BTC × BTC/USDT). One step in
 * between is what an account needs in practice; longer chains are refused rather than guessed.
 */
export class CurrencyConverter {
  /** Price of one `base` in `quote`, per spot or derivative pair seen (a derivative's settle is its quote). */
  private readonly rates = new Map<string, Map<string, number>>();

  /** Records the last price of `symbol`. */
  update(symbol: string, price: number): void {
    if (!(price > 0)) return;
    const currencies = currenciesOf(symbol);
    if (currencies === undefined) return;
    const { base, quote } = currencies;
    this.set(base, quote, price);
    this.set(quote, base, 1 / price);
  }

  /** Price of one `asset` in `currency`, undefined when no pair (or pair of pairs) converts it. */
  rate(asset: string, currency: string): number | undefined {
    if (asset === currency) return 1;
    const from = this.rates.get(asset);
    if (from === undefined) return undefined;
    const direct = from.get(currency);
    if (direct !== undefined) return direct;
    for (const [via, first] of from) {
      const second = this.rates.get(via)?.get(currency);
      if (second !== undefined) return first * second;
    }
    return undefined;
  }

  private set(from: string, to: string, price: number): void {
    let row = this.rates.get(from);
    if (row === undefined) this.rates.set(from, (row = new Map()));
    row.set(to, price);
  }
}
