import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Transport } from '../bus/transport.js';
import { TradebusError, errorMessage, toError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { NatsTransport } from '../transports/nats/nats-transport.js';

/** Why a sharded agent cannot share its keys; `code` says which part failed. */
export class ShardingError extends TradebusError {}

export interface ShardLeasesOptions {
  /** A connected NATS transport: leases and checkpoints live in a JetStream key-value bucket beside its stream. */
  transport: Transport;
  /** The group sharing `keys`: every instance of one agent (its agent id). */
  group: string;
  /** This instance's name, unique in the group and stable across its restarts (e.g. `runner-2`). */
  instance: string;
  /** What is shared (symbols); every instance of the group must list the same. */
  keys: readonly string[];
  /** A lease not renewed for this long is free for another instance; also how long a silent member counts as alive. Default 6000. */
  leaseTtlMs?: number;
  /** How often leases are renewed and ownership checked (default a third of the TTL). */
  renewIntervalMs?: number;
  /** Bucket name; default `<stream>_SHARDS`. */
  bucket?: string;
  /**
   * Called once this instance holds the lease on `key`, with the checkpoint the previous owner
   * saved (undefined when none did): processing of the key starts after it.
   */
  acquire: (key: string, checkpoint: unknown) => void | Promise<void>;
  /**
   * Called before the lease on `key` is given up (another instance should own it, or this one
   * stops): processing of the key must stop and its checkpoint be saved before it resolves.
   * `lapsed` is true when the lease could not be renewed in time and may already be another's.
   */
  release: (key: string, lapsed: boolean) => void | Promise<void>;
  logger?: Logger;
  host?: string;
  /** Wall clock in ms (leases compare times written by other machines: keep clocks in sync). */
  now?: () => number;
}

const memberSchema = z.object({ instance: z.string(), host: z.string(), pid: z.number().int(), since: z.number(), renewedAt: z.number() });
const leaseSchema = z.object({ owner: z.string(), host: z.string(), since: z.number(), expiresAt: z.number() });
export type ShardMember = z.infer<typeof memberSchema>;
export type ShardLease = z.infer<typeof leaseSchema>;

interface Held {
  revision: number;
  renewedAt: number;
  since: number;
}

/** What `report()` says about one instance: shown in heartbeats, `tradebus status` and /agents/status. */
export interface ShardReport {
  group: string;
  instance: string;
  host: string;
  /** Keys this instance owns right now. */
  owned: string[];
  /** Live members of the group, this one included. */
  members: number;
  /** Keys in the group. */
  keys: number;
}

/**
 * Shares a fixed set of keys (symbols) among the running instances of one agent: each key is
 * owned by exactly one instance at a time, through leases in a JetStream key-value bucket
 * (compare-and-set on the entry's revision, TTL, renewal).
 *
 * - Membership: each instance renews `<group>.member.<instance>`; one silent for a TTL is gone.
 * - Who should own a key: rendezvous hashing with bounded load over the live members (each gets
 *   its share), so a join or a leave moves few keys.
 * - Handover: the owner that should no longer own a key stops it (`release`, which saves the
 *   checkpoint) and only then deletes the lease; the new owner takes the free lease, reads the
 *   checkpoint and continues after it (`acquire`). A dead owner's lease expires after the TTL.
 * - Fencing: an owner that could not renew a lease for most of the TTL stops that key itself
 *   (`release` with `lapsed`), before another instance may take it.
 */
export class ShardLeases {
  private readonly owned = new Map<string, Held>();
  private readonly saving = new Map<string, Promise<void>>();
  private readonly nextCheckpoint = new Map<string, string>();
  private readonly ttl: number;
  private readonly interval: number;
  private readonly host: string;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly since: number;
  private liveMembers: ShardMember[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
    private readonly options: ShardLeasesOptions,
  ) {
    this.ttl = options.leaseTtlMs ?? 6_000;
    this.interval = options.renewIntervalMs ?? Math.max(50, Math.floor(this.ttl / 3));
    this.host = options.host ?? hostname();
    this.now = options.now ?? Date.now;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'shard-leases', group: options.group, instance: options.instance });
    this.since = this.now();
  }

  /** Opens (or creates) the bucket; call `start()` to join the group. */
  static async open(options: ShardLeasesOptions): Promise<ShardLeases> {
    const transport = options.transport;
    if (!(transport instanceof NatsTransport)) {
      throw new ShardingError('SHARDING_NEEDS_NATS', `Sharding '${options.group}' needs the NATS transport (transport.kind: nats): instances share keys through JetStream, which a ${transport.name} bus does not have.`);
    }
    const nc = transport.connection;
    if (nc === undefined) throw new ShardingError('SHARDING_NOT_CONNECTED', `Sharding '${options.group}': the NATS transport is not connected yet; start sharding from the agent's run().`);
    if (!/^[A-Za-z0-9_-]+$/.test(options.instance)) {
      throw new ShardingError('SHARDING_INSTANCE_INVALID', `Instance name '${options.instance}' is not valid: use letters, digits, '-' and '_' (set it with TRADEBUS_INSTANCE or the agent's sharding.instance).`);
    }
    if (options.leaseTtlMs !== undefined && options.renewIntervalMs !== undefined && options.renewIntervalMs * 2 > options.leaseTtlMs) {
      throw new ShardingError('SHARDING_TIMING_INVALID', `sharding.renewIntervalMs (${options.renewIntervalMs}) must be at most half of sharding.leaseTtlMs (${options.leaseTtlMs}), or a lease lapses between two renewals.`);
    }
    const bucket = options.bucket ?? `${transport.options.streamName}_SHARDS`;
    // Each request waits at most a fraction of the TTL: a round stuck on one unanswered request
    // (a node just died) must not outlast the leases it is renewing.
    const timeout = Math.max(250, Math.min(transport.options.ackTimeoutMs, Math.floor((options.leaseTtlMs ?? 6_000) / 5)));
    let kv: KV;
    let jsm: JetStreamManager;
    try {
      // Creating a replicated bucket waits for placement: that request gets the longer timeout.
      await new Kvm(jetstream(nc, { timeout: Math.max(5_000, transport.options.ackTimeoutMs) })).create(bucket, { history: 1, replicas: transport.options.replicas });
      kv = await new Kvm(jetstream(nc, { timeout })).open(bucket);
      jsm = await jetstreamManager(nc, { timeout, checkAPI: false });
    } catch (err) {
      throw new ShardingError('SHARDING_BUCKET_UNAVAILABLE', `Sharding '${options.group}': the key-value bucket ${bucket} could not be opened: ${errorMessage(err)}. JetStream must be enabled on the server.`, { cause: err });
    }
    return new ShardLeases(kv, jsm, bucket, options);
  }

  /** Joins the group: takes the keys this instance should own and keeps checking every interval. */
  async start(): Promise<void> {
    await this.tick();
    const loop = (): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.ticking = this.tick().finally(loop);
      }, this.interval);
    };
    loop();
  }

  /** Leaves the group: releases every key (saving checkpoints) and removes this member, so the others take over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking.catch(() => undefined);
    for (const key of [...this.owned.keys()]) await this.giveUp(key, false);
    await this.kv.delete(this.memberKey(this.options.instance)).catch((err: unknown) => this.logger.warn({ err: toError(err) }, 'could not remove the member entry'));
  }

  /** True while this instance holds the lease on `key`. */
  owns(key: string): boolean {
    return this.owned.has(key);
  }

  report(): ShardReport {
    return {
      group: this.options.group,
      instance: this.options.instance,
      host: this.host,
      owned: [...this.owned.keys()].sort(),
      members: this.liveMembers.length,
      keys: this.options.keys.length,
    };
  }

  /** The live members as last read. */
  members(): ShardMember[] {
    return [...this.liveMembers];
  }

  /** Who holds the lease on `key` right now, as stored (undefined when free). */
  async lease(key: string): Promise<ShardLease | undefined> {
    const entry = await this.kv.get(this.leaseKey(key));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return leaseSchema.parse(entry.json());
  }

  /** The checkpoint saved for `key`, undefined when none. */
  async checkpoint(key: string): Promise<unknown> {
    const entry = await this.kv.get(this.checkpointKey(key));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return entry.json();
  }

  /**
   * Saves the checkpoint of an owned key (ignored otherwise). At most one write per key is in
   * flight; values saved meanwhile replace each other and the latest goes next, so a fast
   * producer costs one round trip per write, not per value. `release` waits for the last one.
   */
  saveCheckpoint(key: string, value: unknown): Promise<void> {
    if (!this.owned.has(key)) return Promise.resolve();
    const data = JSON.stringify(value);
    const hadNext = this.nextCheckpoint.has(key);
    this.nextCheckpoint.set(key, data);
    if (hadNext) return this.saving.get(key)!;
    const next = (this.saving.get(key) ?? Promise.resolve()).then(async () => {
      const latest = this.nextCheckpoint.get(key);
      this.nextCheckpoint.delete(key);
      if (latest === undefined) return;
      await this.kv.put(this.checkpointKey(key), latest).then(
        () => undefined,
        (err: unknown) => this.logger.warn({ err: toError(err), key }, 'checkpoint not saved: the next owner starts from the previous one'),
      );
    });
    this.saving.set(key, next);
    return next;
  }

  /** Waits until every checkpoint of `key` saved so far is written. */
  async flushCheckpoint(key: string): Promise<void> {
    while (this.saving.has(key)) {
      const current = this.saving.get(key)!;
      await current;
      if (this.saving.get(key) === current && !this.nextCheckpoint.has(key)) this.saving.delete(key);
    }
  }

  /** One round: renew membership, read the members, give up and take keys as the hashing says. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    // Leases held are renewed first: they lapse after the TTL, membership is only read from them.
    for (const [key, held] of [...this.owned]) {
      if (this.now() - held.renewedAt > this.ttl * 0.8) continue;
      await this.renew(key, held).catch((err: unknown) => this.logger.warn({ err: toError(err), key }, 'lease not renewed; retrying'));
    }
    try {
      await this.renewMembership();
      await this.readMembers();
    } catch (err) {
      this.logger.warn({ err: toError(err) }, 'membership not renewed; retrying');
    }
    const me = this.options.instance;
    const assignment = assignShards(this.options.keys, this.liveMembers.map((m) => m.instance));
    for (const key of this.options.keys) {
      if (this.stopped) return;
      try {
        const held = this.owned.get(key);
        const desired = assignment.get(key);
        if (held !== undefined) {
          if (this.now() - held.renewedAt > this.ttl * 0.8) await this.giveUp(key, true);
          else if (desired !== me && desired !== undefined) await this.giveUp(key, false);
        } else if (desired === me) {
          await this.take(key);
        }
      } catch (err) {
        this.logger.warn({ err: toError(err), key }, 'lease round failed for this key; retrying');
      }
    }
  }

  private async renewMembership(): Promise<void> {
    const now = this.now();
    const member: ShardMember = { instance: this.options.instance, host: this.host, pid: process.pid, since: this.since, renewedAt: now };
    await this.kv.put(this.memberKey(this.options.instance), JSON.stringify(member));
  }

  private async readMembers(): Promise<void> {
    const now = this.now();
    // The stream's subject counts list the member keys in one request (listing keys through a
    // consumer is slower and stalls while the cluster recovers from a lost node).
    const memberSubjects = `$KV.${this.bucket}.${this.prefix()}.member.>`;
    const info = await this.jsm.streams.info(`KV_${this.bucket}`, { subjects_filter: memberSubjects });
    const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(`$KV.${this.bucket}.`.length));
    const members: ShardMember[] = [];
    for (const k of keys) {
      const entry = await this.kv.get(k);
      if (entry === null || entry.operation !== 'PUT') continue;
      const parsed = memberSchema.safeParse(safeJson(entry));
      if (parsed.success && now - parsed.data.renewedAt <= this.ttl) members.push(parsed.data);
    }
    if (!members.some((m) => m.instance === this.options.instance)) {
      members.push({ instance: this.options.instance, host: this.host, pid: process.pid, since: this.since, renewedAt: now });
    }
    this.liveMembers = members.sort((a, b) => a.instance.localeCompare(b.instance));
  }

  private async take(key: string): Promise<void> {
    const k = this.leaseKey(key);
    const entry = await this.kv.get(k);
    const now = this.now();
    if (entry !== null && entry.operation === 'PUT') {
      const current = leaseSchema.safeParse(safeJson(entry));
      if (current.success && current.data.owner !== this.options.instance && current.data.expiresAt > now) return;
    }
    const lease: ShardLease = { owner: this.options.instance, host: this.host, since: now, expiresAt: now + this.ttl };
    let revision: number;
    try {
      revision = entry === null ? await this.kv.create(k, JSON.stringify(lease)) : await this.kv.update(k, JSON.stringify(lease), entry.revision);
    } catch (err) {
      // Another instance wrote first: it owns the key, this round leaves it alone.
      this.logger.debug({ err: toError(err), key }, 'lease taken by another instance first');
      return;
    }
    this.owned.set(key, { revision, renewedAt: now, since: now });
    const checkpoint = await this.checkpoint(key);
    this.logger.info({ key, checkpoint, previous: entry?.operation === 'PUT' ? safeJson(entry) : undefined }, 'took the lease');
    try {
      await this.options.acquire(key, checkpoint);
    } catch (err) {
      this.logger.error({ err: toError(err), key }, 'could not start the key after taking its lease; giving it up');
      await this.giveUp(key, false);
    }
  }

  private async renew(key: string, held: Held): Promise<void> {
    const now = this.now();
    const lease: ShardLease = { owner: this.options.instance, host: this.host, since: held.since, expiresAt: now + this.ttl };
    try {
      held.revision = await this.kv.update(this.leaseKey(key), JSON.stringify(lease), held.revision);
      held.renewedAt = now;
    } catch (err) {
      // The revision moved: someone else wrote the lease (this one had lapsed). Stop at once.
      if (/wrong last sequence/i.test(errorMessage(err))) {
        this.logger.error({ key }, 'lease was taken over by another instance: stopping the key');
        await this.giveUp(key, true, false);
        return;
      }
      throw err;
    }
  }

  private async giveUp(key: string, lapsed: boolean, deleteLease = true): Promise<void> {
    const held = this.owned.get(key);
    if (held === undefined) return;
    try {
      await this.options.release(key, lapsed);
    } catch (err) {
      this.logger.error({ err: toError(err), key }, 'release failed');
    }
    await this.flushCheckpoint(key);
    this.owned.delete(key);
    if (deleteLease && !lapsed) {
      await this.kv.delete(this.leaseKey(key), { previousSeq: held.revision }).catch((err: unknown) => this.logger.warn({ err: toError(err), key }, 'lease not deleted; it expires after the TTL'));
    }
    this.logger.info({ key, lapsed }, 'gave up the lease');
  }

  private prefix(): string {
    return encodeToken(this.options.group);
  }

  private memberKey(instance: string): string {
    return `${this.prefix()}.member.${encodeToken(instance)}`;
  }

  private leaseKey(key: string): string {
    return `${this.prefix()}.lease.${encodeToken(key)}`;
  }

  private checkpointKey(key: string): string {
    return `${this.prefix()}.ckpt.${encodeToken(key)}`;
  }
}

/**
 * The member that should own `key`: highest hash of (key, member). Every instance computes the
 * same answer from the same member list, and removing or adding a member moves only its keys.
 */
export function owner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const m of members) {
    const score = createHash('sha256').update(`${key}\u0000${m}`).digest('hex');
    if (best === undefined || score > bestScore) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Who should own each key: rendezvous hashing with bounded load. Keys are placed in a fixed order,
 * each with the highest-scoring member still under ⌊keys / members⌋, then the rest under
 * ⌈keys / members⌉, so every member gets its share even when there are few keys (plain hashing gave one of two runners three of
 * four symbols), and a join or a leave still moves few keys. Every instance computes the same
 * answer from the same member list.
 */
export function assignShards(keys: readonly string[], members: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (members.length === 0) return out;
  const unique = [...new Set(keys)].sort();
  const load = new Map(members.map((m) => [m, 0]));
  const ranked = new Map(
    unique.map((key) => [
      key,
      members
        .map((m) => ({ m, score: createHash('sha256').update(`${key}\u0000${m}`).digest('hex') }))
        .sort((a, b) => (a.score < b.score ? 1 : a.score > b.score ? -1 : 0)),
    ]),
  );
  // First everyone's floor share, then the remainder: no member is left without keys it could have.
  for (const cap of [Math.floor(unique.length / members.length), Math.ceil(unique.length / members.length)]) {
    for (const key of unique) {
      if (out.has(key)) continue;
      const best = ranked.get(key)!.find(({ m }) => load.get(m)! < cap);
      if (best === undefined) continue;
      out.set(key, best.m);
      load.set(best.m, load.get(best.m)! + 1);
    }
  }
  return out;
}

/** A key-value key token from any string: characters outside letters, digits, '-' and '_' become `=XX`. */
export function encodeToken(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, (c) => [...Buffer.from(c, 'utf8')].map((b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

function safeJson(entry: KvEntry): unknown {
  try {
    return entry.json();
  } catch {
    return undefined;
  }
}
