import { z } from 'zod';

// Checked when the config is read, so a bad timeframe is reported with its key before anything starts.
const TIMEFRAME = /^([1-9]\d*)([smhdw])$/;

export { timeframeToMs as timeframeMs } from '@tradebus/providers';

export const timeframeSchema = z
  .string()
  .regex(TIMEFRAME, { error: 'must be a number followed by s, m, h, d or w, e.g. 1m, 5m, 1h, 1d' });
