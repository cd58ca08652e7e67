import { z } from 'zod';
import { BaseAgent, defineAgent } from '@tradebus/core';

/**
 * A bot author's own agent, loaded by path from `signals.yaml`: it prints every
 * `signal.generated` it receives, one line each, and keeps a running count in its state store.
 * It runs in its own process and knows nothing of the strategy runner: the signals reach it
 * over NATS.
 */
const configSchema = z
  .object({
    symbols: z.array(z.string().min(1)).optional().describe('Print only signals for these symbols; all when absent'),
    minConfidence: z.number().min(0).max(1).default(0).describe('Leave out signals below this confidence'),
  })
  .strict();
type Config = z.output<typeof configSchema>;

const COUNT_KEY = 'printed';

class SignalLogger extends BaseAgent<Config> {
  private printed = 0;

  protected override async initialize(): Promise<void> {
    // A restarted logger continues its numbering instead of starting again at 1.
    this.printed = (await this.store.get<number>(COUNT_KEY)) ?? 0;
  }

  protected run(): void {
    this.subscribe(
      'signal.generated',
      async ({ payload: signal, source }) => {
        if (this.config.symbols !== undefined && !this.config.symbols.includes(signal.symbol)) return;
        if (signal.confidence < this.config.minConfidence) return;
        this.printed += 1;
        await this.store.set(COUNT_KEY, this.printed);
        process.stdout.write(
          `signal #${this.printed} ${new Date(signal.timestamp).toISOString()} ${signal.symbol} ${signal.side} ` +
            `by ${signal.strategyId} at ${signal.price} (confidence ${signal.confidence.toFixed(2)}, from agent '${source}') id=${signal.id}\n`,
        );
      },
      // One at a time, so the numbering follows the order the signals arrived in.
      { serial: true },
    );
  }
}

export const agent = defineAgent<Config>({
  kind: 'signal-logger',
  description: 'Prints every signal.generated it receives',
  configSchema,
  // What it uses on the bus: `tradebus nats-config` gives its process exactly this.
  bus: { subscribes: ['signal.generated'] },
  create: (ctx) => new SignalLogger(ctx),
});
export default agent;
