/**
 * Settings this agent applies while running (PATCH /config); any other change is refused and
 * needs a restart. Patterns: `a.*` is everything under `a`, `a[].b.*` everything under `b` of any
 * element of the list `a`, `a.b` that one key.
 */
export const hotSettings: readonly string[] = [
  'rateLimit.*',
  'retry.*',
  'venueBreaker.*',
  'slippageGuard.*',
];
