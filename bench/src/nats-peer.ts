/**
 * The receiving process of the NATS benchmark: `node nats-peer.js <mode> <url> <count>`.
 * Modes: raw-sub / bus-sub print "done" after every `count` events received; raw-responder /
 * bus-responder answer requests. Prints "ready" once its subscription is on the server, and
 * exits when stdin closes. Raw modes use the `raw` subject prefix, Tradebus modes `bench`.
 */
import { connect } from '@nats-io/transport-node';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, type BuiltinEvents } from '@tradebus/core';

const RAW_PREFIX = 'raw';
const BUS_PREFIX = 'bench';
const [mode, url, countArg] = process.argv.slice(2) as [string, string, string];
const count = Number(countArg);
const say = (line: string): void => void process.stdout.write(`${line}\n`);
let cpuMark = process.cpuUsage();
/** "done <received> <cpu µs spent since the previous done>": CPU per event does not depend on what else the machine runs. */
function reportDone(received: number, sum: number): void {
  const cpu = process.cpuUsage(cpuMark);
  cpuMark = process.cpuUsage();
  say(`done ${sum > 0 ? received : 0} ${cpu.user + cpu.system}`);
}

interface RawTick {
  id: string;
  type: string;
  payload: { price: number };
}

async function main(): Promise<void> {
  const done = new Promise<void>((resolve) => process.stdin.on('close', resolve).resume());
  if (mode === 'raw-sub' || mode === 'raw-responder') {
    const nc = await connect({ servers: url, noAsyncTraces: true });
    if (mode === 'raw-sub') {
      let received = 0;
      let sum = 0;
      nc.subscribe(`${RAW_PREFIX}.price.tick`, {
        callback: (_err, msg) => {
          // What a user of the raw client does with each message: decode it and use it.
          sum += (JSON.parse(msg.string()) as RawTick).payload.price;
          if (++received % count === 0) reportDone(received, sum);
        },
      });
    } else {
      nc.subscribe(`${RAW_PREFIX}._req.price.tick`, {
        queue: 'tradebus-responders',
        callback: (_err, msg) => {
          const request = JSON.parse(msg.string()) as RawTick;
          msg.respond(JSON.stringify({ id: request.id, type: request.type, source: 'raw', ts: Date.now(), seq: 1, payload: { ok: true, value: request.payload.price * 2 } }));
        },
      });
    }
    await nc.flush();
    cpuMark = process.cpuUsage();
    say('ready');
    await done;
    await nc.close();
    return;
  }
  const catalogue = new EventCatalogue(builtinEvents);
  const transport = new NatsTransport({ servers: url, prefix: BUS_PREFIX, catalogue, name: `bench-${mode}` });
  await transport.connect();
  const bus = new EventBus<BuiltinEvents>({ transport, catalogue, clock: new WallClock(), source: 'bench-peer' });
  if (mode === 'bus-sub') {
    let received = 0;
    let sum = 0;
    bus.subscribe('price.tick', (event) => {
      sum += event.payload.price;
      if (++received % count === 0) reportDone(received, sum);
    });
  } else if (mode === 'bus-responder') {
    bus.respond('price.tick', (request) => request.payload.price * 2);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  await transport.flush();
  cpuMark = process.cpuUsage();
  say('ready');
  await done;
  await transport.close();
}

await main();
