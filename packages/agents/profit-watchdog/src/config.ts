import { z } from 'zod';
import { secret } from '@tradebus/core';
import { regimeDetectorConfigSchema } from '@tradebus/strategies';

const count = (fallback: number, what: string) => z.number().int().positive().default(fallback).describe(what);
const share = (fallback: number, what: string) => z.number().min(0).max(1).default(fallback).describe(what);

/** One setting of another agent the watchdog may recommend (and, with auto-tune, change). */
export const tunableSchema = z
  .strictObject({
    agent: z.string().min(1).describe('Id of the agent whose setting this is (the trade manager)'),
    path: z
      .literal('aggregation.minConfidence')
      .default('aggregation.minConfidence')
      .describe("The setting, as a dotted path in that agent's config: the minimum confidence an entry signal needs"),
    strategies: z
      .array(z.string().min(1))
      .optional()
      .describe('Strategies the setting governs, whose decisions are replayed; every strategy seen when absent (the setting is shared)'),
    current: z.number().min(0).max(1).describe("The setting's value when the watchdog starts (as in the agent's config); followed through config.changed afterwards"),
    min: z.number().min(0).max(1).default(0).describe('Lowest value a recommendation may name'),
    max: z.number().min(0).max(1).default(1).describe('Highest value a recommendation may name'),
    step: z.number().positive().max(1).default(0.05).describe('Candidate values are min, min + step, ... up to max'),
  })
  .refine((t) => t.min <= t.max, { message: 'min must not be above max', path: ['min'] });

export const profitWatchdogConfigSchema = z
  .strictObject({
    windowSize: count(50, 'Decisions with a known outcome in each rolling window (per strategy, per strategy × symbol, per strategy × symbol × regime)'),
    historySize: count(1000, 'Decisions with a known outcome kept per strategy: the history recommendations replay and windows are cut from'),
    maxPending: count(5000, 'Signals followed until their outcome is known; the oldest are let go beyond this'),
    minWindow: count(20, 'Fewest decisions with an outcome in a window before it raises an alert'),
    confidenceLevel: z.number().gt(0).lt(1).default(0.95).describe('Level of the expectancy confidence intervals (Student t)'),
    reportEvery: count(20, 'Outcomes between two reports (watchdog.report) and evaluations of alerts and recommendations'),
    regime: regimeDetectorConfigSchema.prefault({}).describe('How the market regime of a symbol is told (as the trade manager does), from candle.closed'),
    alerts: z
      .strictObject({
        underperformance: z
          .strictObject({
            enabled: z.boolean().default(true),
            maxExpectancyPct: z.number().default(0).describe('Alert when the upper end of the expectancy interval of accepted trades is below this (% per trade)'),
          })
          .prefault({}),
        missedOpportunities: z
          .strictObject({
            enabled: z.boolean().default(true),
            maxRate: share(0.6, 'Alert when more than this share of the rejected signals with an outcome would have won'),
            minExpectancyPct: z.number().default(0).describe('... and their average outcome is above this (% per trade)'),
          })
          .prefault({}),
        cooldownOutcomes: count(100, 'After an alert, outcomes of the same group before the same alert is raised again'),
      })
      .prefault({}),
    drift: z
      .strictObject({
        enabled: z.boolean().default(true),
        delta: z.number().nonnegative().default(0.1).describe('Page-Hinkley: tolerated fall of the mean per trade, in standard deviations of the strategy history'),
        lambda: z.number().positive().default(8).describe('Page-Hinkley: alarm when the cumulative fall exceeds this many standard deviations'),
        minTrades: count(30, 'Accepted trades of a strategy that only build its history, before the test counts (again after each alarm)'),
        clip: z.number().positive().default(3).describe('A trade counts at most this many standard deviations: one outsized loss cannot raise the alarm alone'),
      })
      .prefault({}),
    recommendations: z
      .strictObject({
        tunables: z.array(tunableSchema).default([]).describe('Settings to recommend values for'),
        minSamples: count(40, 'Decisions with a known outcome a recommendation needs'),
        minTradesAfter: count(10, 'Fewest trades a candidate value must still take'),
        maxPValue: share(0.1, "Recommend only when Welch's t-test of the trades the change adds or removes against those it keeps gives p at or below this"),
      })
      .prefault({}),
    autoTune: z
      .strictObject({
        enabled: z.boolean().default(false).describe('Apply recommendations by itself (through PATCH /config of the system API)'),
        apiUrl: z.url().optional().describe('Base URL of the system API, e.g. http://127.0.0.1:8080'),
        apiToken: secret(z.string().min(1)).optional().describe('API token (TRADEBUS_API_TOKEN of the API process)'),
        maxPValue: share(0.05, 'Apply only recommendations at or below this p-value'),
        minSamples: count(80, 'Apply only recommendations backed by at least this many decisions'),
        maxStep: z.number().positive().max(1).default(0.1).describe('Largest change applied at once; a recommendation further away is approached in steps'),
        periodMs: z.number().int().positive().default(24 * 3_600_000).describe('At most one change per this long'),
        evaluateTrades: count(30, 'Trades after a change that decide whether it stays: worse expectancy than the same number before it rolls it back'),
        timeoutMs: z.number().int().positive().default(10_000).describe('Time allowed for one API request'),
      })
      .prefault({})
      .refine((a) => !a.enabled || (a.apiUrl !== undefined && a.apiToken !== undefined), {
        message: 'autoTune.enabled needs apiUrl and apiToken: the change goes through PATCH /config like an operator',
        path: ['apiUrl'],
      }),
  });

export type ProfitWatchdogConfig = z.output<typeof profitWatchdogConfigSchema>;
export type ProfitWatchdogConfigInput = z.input<typeof profitWatchdogConfigSchema>;
export type Tunable = z.output<typeof tunableSchema>;
