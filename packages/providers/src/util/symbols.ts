import { nearMatches } from '@tradebus/core';
import { BadSymbolError } from '../errors.js';

/**
 * Symbol normalisation lives here and only here. Users may write `btc/usdt`, `BTC-USDT`,
 * `BTC_USDT`, `BTCUSDT` or an exchange's own market id; everything inside Tradebus uses the
 * unified form `BASE/QUOTE` (spot) or `BASE/QUOTE:SETTLE` (perpetual swaps).
 */

/** The unified shape of a symbol, without knowing the venue's markets. */
export function canonicalSymbol(input: string): string {
  const known = canonicalForms.get(input);
  if (known !== undefined) return known;
  const unified = unify(input);
  // Bounded: symbols are few, but the input comes from outside.
  if (canonicalForms.size < 10_000) canonicalForms.set(input, unified);
  return unified;
}

/** Every market data record names its symbol: the same few inputs are normalised over and over. */
const canonicalForms = new Map<string, string>();

function unify(input: string): string {
  const trimmed = input.trim().toUpperCase();
  const [pair, settle] = trimmed.split(':', 2) as [string, string | undefined];
  const unified = pair.replace(/[-_]/g, '/');
  return settle === undefined ? unified : `${unified}:${settle}`;
}

export function splitSymbol(symbol: string): { base: string; quote: string; settle: string | undefined } {
  const [pair, settle] = symbol.split(':', 2) as [string, string | undefined];
  const slash = pair.indexOf('/');
  if (slash <= 0 || slash === pair.length - 1) return { base: pair, quote: '', settle };
  return { base: pair.slice(0, slash), quote: pair.slice(slash + 1), settle };
}

export interface SymbolIndexEntry {
  symbol: string;
  /** The venue's own id, e.g. BTCUSDT. */
  id?: string | undefined;
}

/**
 * Resolves user input to a unified symbol from `known`, or throws BadSymbolError listing near
 * matches. Resolution order: exact, canonical form, venue id, concatenated base+quote (spot first).
 */
export class SymbolResolver {
  private readonly symbols = new Set<string>();
  private readonly byAlias = new Map<string, string>();

  constructor(
    entries: Iterable<SymbolIndexEntry | string>,
    private readonly provider?: string,
  ) {
    // Spot markets are added first so that an alias shared by spot and swap (BTCUSDT) means spot.
    const list = [...entries].map((e) => (typeof e === 'string' ? { symbol: e } : e));
    list.sort((a, b) => Number(a.symbol.includes(':')) - Number(b.symbol.includes(':')));
    for (const entry of list) {
      this.symbols.add(entry.symbol);
      this.alias(entry.symbol.toUpperCase(), entry.symbol);
      if (entry.id) this.alias(entry.id.toUpperCase(), entry.symbol);
      const { base, quote, settle } = splitSymbol(entry.symbol);
      if (quote !== '') this.alias(settle === undefined ? `${base}${quote}` : `${base}${quote}:${settle}`, entry.symbol);
    }
  }

  get size(): number {
    return this.symbols.size;
  }

  has(symbol: string): boolean {
    return this.symbols.has(symbol);
  }

  tryResolve(input: string): string | undefined {
    if (this.symbols.has(input)) return input;
    const canonical = canonicalSymbol(input);
    if (this.symbols.has(canonical)) return canonical;
    return this.byAlias.get(canonical) ?? this.byAlias.get(canonical.replace(/\//g, ''));
  }

  resolve(input: string): string {
    const found = this.tryResolve(input);
    if (found !== undefined) return found;
    throw new BadSymbolError(this.provider, input, this.suggest(input));
  }

  suggest(input: string, max = 3): string[] {
    return nearMatches(canonicalSymbol(input), this.symbols, max);
  }

  private alias(key: string, symbol: string): void {
    if (!this.byAlias.has(key)) this.byAlias.set(key, symbol);
  }
}
