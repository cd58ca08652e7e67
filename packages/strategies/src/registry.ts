import { IndicatorConfigError } from '@tradebus/indicators';
import { z } from 'zod';
import { StrategyConfigError, joinPath } from './errors.js';
import { StrategyInstance } from './strategy.js';
import { timeframeSchema } from './timeframe.js';
import { trendFilterSchema } from './trend-filter.js';
import type { AnyStrategyDefinition, Strategy } from './types.js';

const STRATEGY_ID = /^[a-z0-9][a-z0-9_-]*$/i;

/**
 * One strategy in a configuration file. `params` are checked against the schema of `type`;
 * `id` defaults to `type` and must be unique among the strategies of one system (it is part of
 * every signal id and the key of the track record).
 */
export const strategyConfigSchema = z.strictObject({
  type: z.string({ error: "must be a strategy type such as 'ema-cross'" }).min(1, { error: 'must not be empty' }),
  id: z
    .string()
    .regex(STRATEGY_ID, { error: 'use letters, digits, - and _ (starting with a letter or digit)' })
    .max(64, { error: 'must be at most 64 characters' })
    .optional(),
  timeframe: timeframeSchema.optional().describe('Only candles of this timeframe reach the strategy'),
  params: z.record(z.string(), z.unknown()).optional(),
  trendFilter: trendFilterSchema.optional(),
});

export type StrategyConfig = z.input<typeof strategyConfigSchema>;

export interface CreateStrategyOptions {
  /** Where the config sits, e.g. `agents[1].config.strategies[0]`; prefixed to field names in errors. */
  path?: string;
  /** Defaults to the built-in strategies. */
  registry?: StrategyRegistry;
}

/** The strategy types a system knows. Start from the built-ins and add your own definitions. */
export class StrategyRegistry {
  private readonly definitions = new Map<string, AnyStrategyDefinition>();

  constructor(definitions: Iterable<AnyStrategyDefinition> = []) {
    for (const definition of definitions) this.register(definition);
  }

  register(definition: AnyStrategyDefinition): this {
    if (!STRATEGY_ID.test(definition.type)) {
      throw new StrategyConfigError(
        'type',
        `Strategy type '${definition.type}' is not valid: use letters, digits, - and _ (it appears in config files and signal ids).`,
      );
    }
    if (this.definitions.has(definition.type) && this.definitions.get(definition.type) !== definition) {
      throw new StrategyConfigError('type', `Strategy type '${definition.type}' is already registered. Give your strategy another type name.`);
    }
    this.definitions.set(definition.type, definition);
    return this;
  }

  has(type: string): boolean {
    return this.definitions.has(type);
  }

  get(type: string): AnyStrategyDefinition | undefined {
    return this.definitions.get(type);
  }

  types(): string[] {
    return [...this.definitions.keys()];
  }

  /** A copy with more definitions, leaving this registry untouched. */
  with(...definitions: AnyStrategyDefinition[]): StrategyRegistry {
    return new StrategyRegistry([...this.definitions.values(), ...definitions]);
  }

  /**
   * Validates `config` and builds the strategy. Throws {@link StrategyConfigError} naming the bad
   * field (`params.fast`, `type`, ...), prefixed with `options.path`.
   */
  create(config: unknown, options: Omit<CreateStrategyOptions, 'registry'> = {}): Strategy {
    const path = options.path ?? '';
    const parsed = strategyConfigSchema.safeParse(config);
    if (!parsed.success) throw StrategyConfigError.fromZod('strategy config', path, parsed.error);
    const { type, id = type, timeframe, params = {}, trendFilter } = parsed.data;
    const definition = this.definitions.get(type);
    if (definition === undefined) {
      const field = joinPath(path, 'type');
      const close = suggest(type, this.types());
      throw new StrategyConfigError(
        field,
        `Invalid strategy config: ${field} '${type}' is not a known strategy type.${close ? ` Did you mean '${close}'?` : ''} ` +
          `Known types: ${this.types().join(', ')}. Register custom strategies in the StrategyRegistry passed to createStrategy.`,
      );
    }
    const paramsPath = joinPath(path, 'params');
    const checked = definition.params.safeParse(params);
    if (!checked.success) {
      throw StrategyConfigError.fromZod(`${type} strategy params`, paramsPath, checked.error, `Fix it in the configuration (see docs/strategies.md for the ${type} parameters).`);
    }
    try {
      return new StrategyInstance(definition, { id, params: checked.data, timeframe, trendFilter });
    } catch (err) {
      if (err instanceof StrategyConfigError) {
        // Higher timeframes are checked against the strategy's own when it is built.
        const field = joinPath(path, err.field);
        throw new StrategyConfigError(field, `Invalid strategy config: ${field}: ${err.message}`, [], { cause: err });
      }
      if (err instanceof IndicatorConfigError) {
        const field = joinPath(paramsPath, err.field);
        throw new StrategyConfigError(field, `Invalid ${type} strategy params: ${err.message}`, [], { cause: err });
      }
      throw err;
    }
  }

  /** Creates several strategies and checks that their ids are unique. */
  createAll(configs: readonly unknown[], options: Omit<CreateStrategyOptions, 'registry'> = {}): Strategy[] {
    const path = options.path ?? '';
    const byId = new Map<string, number>();
    return configs.map((config, index) => {
      const itemPath = `${path}[${index}]`;
      const strategy = this.create(config, { path: itemPath });
      const other = byId.get(strategy.id);
      if (other !== undefined) {
        const field = joinPath(itemPath, 'id');
        throw new StrategyConfigError(
          field,
          `Invalid strategy config: ${field} '${strategy.id}' is already used by ${path}[${other}]. ` +
            'Give each strategy its own id (signal ids and track records are keyed by it).',
        );
      }
      byId.set(strategy.id, index);
      return strategy;
    });
  }
}

function suggest(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(input.toLowerCase(), candidate);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}
