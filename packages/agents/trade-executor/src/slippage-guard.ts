export interface SlippageGuardSettings {
  /** Slippage a normal fill is expected to have, in basis points. */
  expectedBps: number;
  /** A fill worse than `multiple` × `expectedBps` halts entries on its symbol; 0 turns the guard off. */
  multiple: number;
  /** How long a halt lasts; 0: until an operator resumes. */
  haltMs: number;
}

/** Why entries on a symbol are halted: plain data, stored as is. */
export interface SymbolHalt {
  since: number;
  /** When it lifts by itself; absent: only an operator's resume lifts it. */
  until?: number | undefined;
  clientOrderId: string;
  side: 'buy' | 'sell';
  referencePrice: number;
  fillPrice: number;
  slippageBps: number;
  limitBps: number;
}

/**
 * Slippage against the order, in basis points of the reference price: positive when the fill is
 * worse than the reference (paid more on a buy, received less on a sell), negative when better.
 */
export function adverseSlippageBps(side: 'buy' | 'sell', referencePrice: number, fillPrice: number): number {
  const bps = ((fillPrice - referencePrice) / referencePrice) * 1e4;
  return side === 'buy' ? bps : -bps;
}

/**
 * Halts new entries on a symbol whose fills come in far worse than expected: a book gone thin, a
 * venue matching late, a price feed behind the market. More entries there would pay the same.
 * Exits are never halted: the caller only asks about entries.
 */
export class SlippageGuard {
  private readonly halts: Map<string, SymbolHalt>;

  constructor(
    private readonly settings: SlippageGuardSettings,
    restored: Record<string, SymbolHalt> = {},
  ) {
    this.halts = new Map(settings.multiple > 0 ? Object.entries(restored) : []);
  }

  get enabled(): boolean {
    return this.settings.multiple > 0 && this.settings.expectedBps >= 0;
  }

  /** Adverse slippage beyond which a fill halts its symbol, in basis points. */
  get limitBps(): number {
    return this.settings.expectedBps * this.settings.multiple;
  }

  /**
   * Checks one fill; returns the halt it starts, if any. A symbol already halted keeps its first
   * halt (the one an operator is asked about).
   */
  check(symbol: string, side: 'buy' | 'sell', referencePrice: number | undefined, fillPrice: number, clientOrderId: string, now: number): SymbolHalt | undefined {
    if (!this.enabled || referencePrice === undefined || !(referencePrice > 0) || !(fillPrice > 0)) return undefined;
    const slippageBps = adverseSlippageBps(side, referencePrice, fillPrice);
    if (!(slippageBps > this.limitBps)) return undefined;
    if (this.halted(symbol, now) !== undefined) return undefined;
    const halt: SymbolHalt = {
      since: now,
      until: this.settings.haltMs > 0 ? now + this.settings.haltMs : undefined,
      clientOrderId,
      side,
      referencePrice,
      fillPrice,
      slippageBps,
      limitBps: this.limitBps,
    };
    this.halts.set(symbol, halt);
    return halt;
  }

  /** The halt in force on a symbol now, if any; one whose time is up is dropped (`expired` hears of it). */
  halted(symbol: string, now: number, expired?: (symbol: string, halt: SymbolHalt) => void): SymbolHalt | undefined {
    const halt = this.halts.get(symbol);
    if (halt === undefined) return undefined;
    if (halt.until !== undefined && now >= halt.until) {
      this.halts.delete(symbol);
      expired?.(symbol, halt);
      return undefined;
    }
    return halt;
  }

  /** Lifts every halt; returns the symbols that were halted. */
  resume(): string[] {
    const symbols = [...this.halts.keys()];
    this.halts.clear();
    return symbols;
  }

  snapshot(): Record<string, SymbolHalt> {
    return structuredClone(Object.fromEntries(this.halts));
  }
}
