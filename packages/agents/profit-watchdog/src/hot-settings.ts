/**
 * Settings the profit watchdog applies while running (PATCH /config); any other change needs a
 * restart. Window sizes and the drift test's parameters shape the state it keeps, so they are not live.
 */
export const hotSettings: readonly string[] = [
  'minWindow',
  'reportEvery',
  'alerts.*',
  'recommendations.minSamples',
  'recommendations.minTradesAfter',
  'recommendations.maxPValue',
  'autoTune.enabled',
  'autoTune.maxPValue',
  'autoTune.minSamples',
  'autoTune.maxStep',
  'autoTune.periodMs',
  'autoTune.evaluateTrades',
];
