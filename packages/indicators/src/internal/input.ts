import { IndicatorConfigError, IndicatorInputError } from '../errors.js';
import type { HLC, HLCV, OHLC, PriceSource } from '../types.js';

export type PricePicker = (bar: OHLC) => number;

const pickers: Record<PriceSource, PricePicker> = {
  open: (bar) => bar.open,
  high: (bar) => bar.high,
  low: (bar) => bar.low,
  close: (bar) => bar.close,
  hl2: (bar) => (bar.high + bar.low) / 2,
  // Same operation order as indicatorts' typical price, so results match bit for bit.
  hlc3: (bar) => (bar.high + bar.low + bar.close) / 3,
  ohlc4: (bar) => (bar.open + bar.high + bar.low + bar.close) / 4,
};

export function pricePicker(source: PriceSource = 'close'): PricePicker {
  const picker = pickers[source];
  if (picker === undefined) {
    throw new IndicatorConfigError(
      'source',
      `source must be one of ${Object.keys(pickers).join(', ')} (got ${JSON.stringify(source)})`,
    );
  }
  return picker;
}

export function nonFiniteInput(label: string, what: string, value: unknown): IndicatorInputError {
  return new IndicatorInputError(
    `${label} received a non-finite ${what} (${String(value)}); the indicator state is unchanged. ` +
      'Skip or repair the bar before feeding it.',
  );
}

export function checkHLC(label: string, bar: HLC): void {
  if (!(Number.isFinite(bar.high) && Number.isFinite(bar.low) && Number.isFinite(bar.close))) {
    throw nonFiniteInput(label, 'high/low/close', `${bar.high}/${bar.low}/${bar.close}`);
  }
}

export function checkHLCV(label: string, bar: HLCV): void {
  checkHLC(label, bar);
  if (!Number.isFinite(bar.volume)) throw nonFiniteInput(label, 'volume', bar.volume);
}

/** Validates a window length given to a constructor. */
export function requirePeriod(label: string, field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new IndicatorConfigError(
      field,
      `${label}: ${field} must be a whole number of bars >= 1 (got ${String(value)})`,
    );
  }
  return value;
}

/** Validates a positive finite number given to a constructor (multipliers, steps). */
export function requirePositive(label: string, field: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new IndicatorConfigError(
      field,
      `${label}: ${field} must be a positive number (got ${String(value)})`,
    );
  }
  return value;
}
