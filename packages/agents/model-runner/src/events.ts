import { defineEvents, type BuiltinEvents, type EventMapOf } from '@tradebus/core';
import { z } from 'zod';

const timestamp = z.number().int().nonnegative();

/** Events the model runner adds to the catalogue (registered when the agent is loaded). */
export const modelEvents = defineEvents({
  'model.prediction': z.object({
    symbol: z.string().min(1),
    timeframe: z.string(),
    /** Open time of the bar the features were computed on. */
    barTime: timestamp,
    /** The feature vector, by name, exactly as the models received it. */
    features: z.record(z.string(), z.number()),
    /** The ensemble's probability of a rise; null when no active model answered. */
    probability: z.number().min(0).max(1).nullable(),
    side: z.enum(['long', 'short', 'flat']),
    confidence: z.number().min(0).max(1),
    votes: z.array(
      z.object({
        model: z.string(),
        version: z.string(),
        status: z.enum(['active', 'shadow']),
        /** The model's calibrated p(up). */
        probability: z.number().min(0).max(1),
        /** Its share of the decision; null for shadow versions, which never vote. */
        weight: z.number().min(0).max(1).nullable(),
        latencyMs: z.number().nonnegative(),
      }),
    ),
    /** Versions that did not answer on this bar, with the reason. */
    failed: z.array(z.object({ model: z.string(), version: z.string(), error: z.string() })),
    timestamp,
  }).describe('Every bar: the features, each model version\'s prediction and the ensemble\'s; shadow versions are recorded here and never trade'),
  'model.health': z.object({
    model: z.string(),
    version: z.string(),
    kind: z.enum(['onnx', 'oip']),
    breaker: z.enum(['closed', 'open', 'half-open']),
    ready: z.boolean().nullable(),
    consecutiveFailures: z.number().int().nonnegative(),
    lastError: z.string().nullable(),
    timestamp,
  }).describe("A model server's health: its circuit breaker and readiness, on every change"),
});

export type ModelEvents = EventMapOf<typeof modelEvents>;
export type ModelRunnerEvents = BuiltinEvents & ModelEvents;
