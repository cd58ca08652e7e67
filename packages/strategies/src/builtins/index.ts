import type { AnyStrategyDefinition } from '../types.js';
import { adxTrend } from './adx-trend.js';
import { bollingerReversion } from './bollinger-reversion.js';
import { btsLynch } from './bts-lynch.js';
import { donchianBreakout } from './donchian-breakout.js';
import { emaCross } from './ema-cross.js';
import { livermorePivot } from './livermore-pivot.js';
import { macdCross } from './macd-cross.js';
import { rsiDivergence } from './rsi-divergence.js';
import { rsiReversion } from './rsi-reversion.js';
import { smc } from './smc.js';
import { weinsteinStage } from './weinstein-stage.js';
import { zweigBreadth } from './zweig-breadth.js';

export { adxTrend, adxTrendParams, type AdxTrendParams } from './adx-trend.js';
export { bollingerReversion, bollingerReversionParams, type BollingerReversionParams } from './bollinger-reversion.js';
export { donchianBreakout, donchianBreakoutParams, type DonchianBreakoutParams } from './donchian-breakout.js';
export { emaCross, emaCrossParams, type EmaCrossParams } from './ema-cross.js';
export { macdCross, macdCrossParams, type MacdCrossParams } from './macd-cross.js';
export { rsiDivergence, rsiDivergenceParams, type RsiDivergenceParams } from './rsi-divergence.js';
export { rsiReversion, rsiReversionParams, type RsiReversionParams } from './rsi-reversion.js';
export { smc, smcParams, type SmcMemory, type SmcParams } from './smc.js';
export { newlyCompleted, readWeinsteinStage, weinsteinStage, weinsteinStageParams, type WeinsteinReading, type WeinsteinStage, type WeinsteinStageParams } from './weinstein-stage.js';
export { livermorePivot, livermorePivotParams, livermoreStart, livermoreStep, type LivermoreEvent, type LivermorePhase, type LivermorePivotParams, type LivermoreState } from './livermore-pivot.js';
export { breadthSeries, breadthWindow, isThrust, latestThrust, zweigBreadth, zweigBreadthParams, type BreadthBar, type ZweigBreadthParams } from './zweig-breadth.js';
export { btsLynch, btsLynchParams, rankOf, strengthByReturn, type BtsLynchParams } from './bts-lynch.js';
export { atrLevels, confidenceFrom, crossedAbove, crossedBelow } from './common.js';

/** Every built-in strategy definition, in documentation order. */
export const builtinStrategies: readonly AnyStrategyDefinition[] = [
  emaCross,
  rsiReversion,
  macdCross,
  bollingerReversion,
  donchianBreakout,
  adxTrend,
  rsiDivergence,
  smc,
  weinsteinStage,
  livermorePivot,
  zweigBreadth,
  btsLynch,
];
