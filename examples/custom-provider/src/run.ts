/**
 * Runs tradebus.yaml with the DemoVenue provider: a demo venue on 127.0.0.1 playing real ETH/BTC
 * candles, the provider registered as `provider:demo`, and the built-in agents trading on it.
 *
 *   npm run build && node examples/custom-provider/dist/run.js
 */
import { fileURLToPath } from 'node:url';
import { createLogger } from '@tradebus/core';
import { providerServiceName } from '@tradebus/providers';
import { launchSystem, prepareSystem, type RunningSystem } from '@tradebus/agent-main';
import { startDemoVenue, type DemoVenue, type DemoVenueOptions } from './demo-venue.js';
import { DemoVenueProvider } from './demo-venue-provider.js';

const configFile = fileURLToPath(new URL('../tradebus.yaml', import.meta.url));

export interface RunningExample {
  venue: DemoVenue;
  provider: DemoVenueProvider;
  running: RunningSystem;
  stop(): Promise<void>;
}

export async function startExample(options: { env?: Record<string, string | undefined>; venue?: DemoVenueOptions; pollIntervalMs?: number } = {}): Promise<RunningExample> {
  const env = options.env ?? process.env;
  const venue = await startDemoVenue(options.venue);
  const logger = createLogger({ level: 'warn', name: 'custom-provider' });
  const provider = new DemoVenueProvider({ id: 'demo', baseUrl: venue.url, pollIntervalMs: options.pollIntervalMs ?? 250, logger });
  try {
    const prepared = await prepareSystem(configFile, { env });
    // Your provider is one more named service: agents find it by the name their config gives.
    const running = await launchSystem(prepared, { env, services: { [providerServiceName('demo')]: provider } });
    return {
      venue,
      provider,
      running,
      async stop() {
        await running.stop();
        // The launcher closes only the providers it built; this one is ours to close.
        await provider.close();
        await venue.close();
      },
    };
  } catch (err) {
    await provider.close();
    await venue.close();
    throw err;
  }
}

async function main(): Promise<void> {
  const example = await startExample();
  const bus = example.running.system.createBus('console');
  const time = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
  bus.subscribe('candle.closed', ({ payload: c }) => console.log(`${time(c.timestamp)}  ${c.symbol} ${c.timeframe}  O ${c.open}  H ${c.high}  L ${c.low}  C ${c.close}`));
  bus.subscribe('signal.generated', ({ payload: s }) => console.log(`  signal  ${s.side} ${s.symbol} at ${s.price} (${s.strategyId})`));
  bus.subscribe('order.updated', ({ payload: o }) => console.log(`  order   ${o.clientOrderId} ${o.side} ${o.quantity} ${o.symbol}: ${o.status}${o.averagePrice ? ` at ${o.averagePrice}` : ''}`));
  console.log(`Demo venue at ${example.venue.url}; REST API at ${example.running.apiUrl}. Stop with Ctrl-C.`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await example.stop();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
