import { TradebusError } from '@tradebus/core';

/** The config uses something the screen cannot model; the full backtest still can. */
export class ScreenUnsupportedError extends TradebusError {
  constructor(path: string, what: string) {
    super('BACKTEST_SCREEN_UNSUPPORTED', `${path}: ${what}. Run the sweep without --screen, which runs every combination through the agents.`, {
      details: { path },
    });
  }
}
