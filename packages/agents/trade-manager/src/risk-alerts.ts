/** What risk.state said last, as far as an operator must hear of its changes. */
export interface RiskSwitches {
  killSwitch: boolean;
  reducingOnly: boolean;
  breakers: ReadonlyArray<{ name: string; tripped: boolean; reason?: string | undefined; until?: number | undefined }>;
  /** The drawdown ladder's multiplier for new entries (1: full size). */
  sizeMultiplier: number;
}

export interface RiskAlert {
  level: 'info' | 'warning' | 'error' | 'critical';
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/**
 * The alerts a change of the risk switches deserves: a breaker that trips or clears, a step of
 * the drawdown ladder reached or left. Operator commands announce themselves where they are
 * handled; these are the changes nobody asked for, which an operator would otherwise only find
 * in risk.state.
 */
export function riskTransitions(before: RiskSwitches | undefined, after: RiskSwitches): RiskAlert[] {
  const out: RiskAlert[] = [];
  for (const b of after.breakers) {
    const was = before?.breakers.find((x) => x.name === b.name);
    if (b.tripped && was?.tripped !== true) {
      const until = b.until !== undefined ? ` until ${new Date(b.until).toISOString()}` : '';
      // The rules doing their job: an operator must hear of it, but nothing is broken.
      out.push({
        level: 'warning',
        code: 'BREAKER_TRIPPED',
        message: `The ${b.name} breaker tripped: ${b.reason ?? 'limit reached'}. No new entries${until}; open positions keep their exits. Send risk.command reset_breakers to lift it earlier.`,
        details: { breaker: b.name, reason: b.reason, until: b.until },
      });
    } else if (!b.tripped && was?.tripped === true) {
      out.push({ level: 'info', code: 'BREAKER_CLEARED', message: `The ${b.name} breaker cleared: new entries are allowed again.`, details: { breaker: b.name } });
    }
  }
  const previous = before?.sizeMultiplier ?? 1;
  if (after.sizeMultiplier !== previous) {
    const halted = after.sizeMultiplier === 0;
    out.push({
      level: after.sizeMultiplier < previous ? 'warning' : 'info',
      code: 'DRAWDOWN_STEP',
      message: halted
        ? 'The drawdown ladder halted new entries.'
        : after.sizeMultiplier === 1
          ? 'Equity recovered above the drawdown ladder: new entries at full size.'
          : `The drawdown ladder sizes new entries × ${after.sizeMultiplier} (was × ${previous}).`,
      details: { sizeMultiplier: after.sizeMultiplier, previous },
    });
  }
  return out;
}
