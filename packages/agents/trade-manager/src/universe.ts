import { TradebusError, type BuiltinEvents } from '@tradebus/core';
import { z } from 'zod';

export const universeConfigSchema = z
  .strictObject({
    follow: z
      .boolean()
      .default(false)
      .describe("Open positions only on symbols in the latest market.snapshot's universe; exits are never held back. Until the first snapshot every symbol may be entered"),
    venue: z
      .string()
      .min(1)
      .optional()
      .describe('Follow only the snapshots of this venue (the market watchdog\'s `venue`); every snapshot when left out, so set it when more than one watchdog runs'),
  })
  .prefault({})
  .describe('The tradable universe published by the market watchdog');

export type UniverseConfig = z.output<typeof universeConfigSchema>;

type Snapshot = BuiltinEvents['market.snapshot'];

/** The venue's order rules for one market, as the latest snapshot that described it gave them. */
export interface MarketPrecision {
  tickSize?: number;
  stepSize?: number;
  minQuantity?: number;
  minNotional?: number;
}

/** The venue's leverage cap and margin rates for one market (derivatives), as last described. */
export interface MarketMarginTerms {
  maxLeverage?: number;
  initialMarginRate?: number;
  maintenanceMarginRate?: number;
}

type MarketTerms = MarketPrecision & MarketMarginTerms;

const positive = z.number().finite().positive();
const nonNegative = z.number().finite().nonnegative();

const termsSchema = z.strictObject({
  tickSize: positive.optional(),
  stepSize: positive.optional(),
  minQuantity: nonNegative.optional(),
  minNotional: nonNegative.optional(),
  maxLeverage: positive.optional(),
  initialMarginRate: nonNegative.optional(),
  maintenanceMarginRate: nonNegative.optional(),
});
const TERM_KEYS = ['tickSize', 'stepSize', 'minQuantity', 'minNotional', 'maxLeverage', 'initialMarginRate', 'maintenanceMarginRate'] as const;
const PRECISION_KEYS = ['tickSize', 'stepSize', 'minQuantity', 'minNotional'] as const;
const MARGIN_KEYS = ['maxLeverage', 'initialMarginRate', 'maintenanceMarginRate'] as const;

const stateSchema = z.strictObject({
  version: z.literal(1),
  venue: z.string().optional(),
  timestamp: z.number().int().nonnegative().optional(),
  universe: z.array(z.string()).optional(),
  reasons: z.record(z.string(), z.array(z.string())),
  everIn: z.array(z.string()),
  terms: z.record(z.string(), termsSchema),
});

/** What `UniverseGate.snapshot()` returns: plain data, persisted as is. */
export type UniverseGateState = z.output<typeof stateSchema>;

export class UniverseStateError extends TradebusError {
  constructor(message: string, cause: unknown) {
    super('UNIVERSE_STATE', message, { cause });
  }
}

/**
 * Entry gate on the market watchdog's tradable universe, and the venue's order rules per market.
 *
 * Only entries are gated: a position on a symbol that leaves the universe keeps its exits, stops
 * and reductions. Until the first snapshot (and with `follow: false`) nothing is blocked: the
 * watchdog publishes one at start, and a bot without one must not stop trading because of it.
 * Precision and margin terms are kept for every market a followed snapshot described, whether or
 * not `follow` is on, and a market a later snapshot leaves out keeps the values it had: venues
 * rarely change them.
 */
export class UniverseGate {
  private readonly follow: boolean;
  private readonly venue: string | undefined;
  /** Undefined until a snapshot of the followed venue arrives. */
  private universe: Set<string> | undefined;
  private lastVenue: string | undefined;
  private lastTimestamp: number | undefined;
  /** Why each market of the latest snapshot is not tradable (markets with reasons only). */
  private reasons = new Map<string, string[]>();
  /** Symbols that were in some universe this gate saw: they "left", the others were never in. */
  private readonly everIn = new Set<string>();
  private readonly termsBySymbol = new Map<string, MarketTerms>();

  constructor(options: { follow: boolean; venue?: string | undefined }) {
    this.follow = options.follow;
    this.venue = options.venue;
  }

  /**
   * Takes a snapshot in. Returns how the universe changed since the previous snapshot this gate
   * took (not the watchdog's own added/removed, which a missed snapshot would make wrong); the
   * first one reports its whole universe as added. A snapshot of another venue changes nothing.
   */
  onSnapshot(snapshot: Snapshot): { added: string[]; removed: string[] } {
    if (this.venue !== undefined && snapshot.venue !== this.venue) return { added: [], removed: [] };
    for (const market of snapshot.markets) {
      const terms = pick(market, TERM_KEYS);
      if (terms !== undefined) this.termsBySymbol.set(market.symbol, terms);
    }
    const previous = this.universe ?? new Set<string>();
    const next = new Set(snapshot.universe);
    this.universe = next;
    this.lastVenue = snapshot.venue;
    this.lastTimestamp = snapshot.timestamp;
    this.reasons = new Map(snapshot.markets.filter((m) => m.reasons.length > 0).map((m) => [m.symbol, [...m.reasons]]));
    for (const symbol of next) this.everIn.add(symbol);
    return {
      added: [...next].filter((s) => !previous.has(s)).sort(),
      removed: [...previous].filter((s) => !next.has(s)).sort(),
    };
  }

  /** Why an entry on `symbol` is refused, or undefined when it may go ahead. */
  entryBlocker(symbol: string): string | undefined {
    if (!this.follow || this.universe === undefined || this.universe.has(symbol)) return undefined;
    const venue = this.lastVenue ?? '';
    const reasons = this.reasons.get(symbol);
    const why =
      reasons !== undefined
        ? reasons.join('; ')
        : // Not described at all: the watchdog does not watch it, so it can never be selected.
          "not among the markets the market watchdog watches: add it to the watchdog's symbols, or widen its quotes/types/maxMarkets";
    return this.everIn.has(symbol) ? `${symbol} left the tradable universe of ${venue} (${why})` : `${symbol} is not in the tradable universe of ${venue} (${why})`;
  }

  /** The venue's order rules for `symbol`, or undefined when no snapshot gave any. */
  precision(symbol: string): MarketPrecision | undefined {
    const terms = this.termsBySymbol.get(symbol);
    return terms === undefined ? undefined : pick(terms, PRECISION_KEYS);
  }

  /** The venue's leverage cap and margin rates for `symbol`, or undefined when no snapshot gave any. */
  marginTerms(symbol: string): MarketMarginTerms | undefined {
    const terms = this.termsBySymbol.get(symbol);
    return terms === undefined ? undefined : pick(terms, MARGIN_KEYS);
  }

  /** Symbols of the latest followed snapshot's universe; undefined before the first. */
  symbols(): string[] | undefined {
    return this.universe === undefined ? undefined : [...this.universe].sort();
  }

  snapshot(): UniverseGateState {
    const state: UniverseGateState = {
      version: 1,
      reasons: Object.fromEntries([...this.reasons].map(([s, r]) => [s, [...r]])),
      everIn: [...this.everIn].sort(),
      terms: Object.fromEntries([...this.termsBySymbol].map(([s, t]) => [s, { ...t }])),
    };
    if (this.universe !== undefined) state.universe = [...this.universe].sort();
    if (this.lastVenue !== undefined) state.venue = this.lastVenue;
    if (this.lastTimestamp !== undefined) state.timestamp = this.lastTimestamp;
    return state;
  }

  /**
   * A gate from `snapshot()` data under the current options. A universe stored for another venue
   * than the one now configured is dropped (the gate waits for a snapshot again); precision and
   * margin terms are kept, they are per symbol. Unreadable data throws UniverseStateError: the caller may start
   * from `new UniverseGate(options)`, the next snapshot rebuilds everything.
   */
  static restore(data: unknown, options: { follow: boolean; venue?: string | undefined }): UniverseGate {
    const parsed = stateSchema.safeParse(data);
    if (!parsed.success) {
      throw new UniverseStateError(
        `The stored tradable-universe state is unreadable (${z.prettifyError(parsed.error)}). Discard it and start from an empty gate: the next market.snapshot rebuilds it.`,
        parsed.error,
      );
    }
    const state = parsed.data;
    const gate = new UniverseGate(options);
    for (const [symbol, terms] of Object.entries(state.terms)) {
      const kept = pick(terms, TERM_KEYS);
      if (kept !== undefined) gate.termsBySymbol.set(symbol, kept);
    }
    const sameVenue = options.venue === undefined || state.venue === options.venue;
    if (sameVenue && state.universe !== undefined) {
      gate.universe = new Set(state.universe);
      gate.lastVenue = state.venue;
      gate.lastTimestamp = state.timestamp;
      gate.reasons = new Map(Object.entries(state.reasons));
      for (const symbol of state.everIn) gate.everIn.add(symbol);
    }
    return gate;
  }
}

/** The given keys of `from` that hold a positive step or a non-negative value; undefined when none do. */
function pick<K extends keyof MarketTerms>(from: Partial<Record<K, number | undefined>>, keys: readonly K[]): Pick<MarketTerms, K> | undefined {
  const out: Partial<Record<K, number>> = {};
  let any = false;
  for (const key of keys) {
    const value = from[key];
    // The bus checked the snapshot; this keeps a zero step (which would divide by zero) out too.
    if (value === undefined || !Number.isFinite(value) || value < 0 || ((key === 'tickSize' || key === 'stepSize' || key === 'maxLeverage') && value === 0)) continue;
    out[key] = value;
    any = true;
  }
  return any ? (out as Pick<MarketTerms, K>) : undefined;
}
