import { EventEmitter } from 'eventemitter3';
import { NoResponderError, TimeoutError, TransportError } from '../errors.js';
import type { Envelope } from './envelope.js';
import { compilePattern, isPattern } from './subjects.js';
import type {
  Deliver,
  Responder,
  Transport,
  TransportStatus,
  TransportSubscribeOptions,
  TransportSubscription,
} from './transport.js';

interface WildcardEntry {
  matches: (type: string) => boolean;
  deliver: Deliver;
}

class QueueGroup<R = void | Promise<void>> {
  readonly members: Array<(envelope: Envelope) => R> = [];
  attachment: TransportSubscription | undefined;
  private next = 0;
  readonly dispatch = (envelope: Envelope): R => {
    const member = this.members[this.next++ % this.members.length]!;
    return member(envelope);
  };
}

/**
 * In-process transport on eventemitter3. Delivery is synchronous and zero-copy: subscribers get
 * the publisher's envelope object, in publish order, in subscription order, before `publish`
 * returns. Payloads must therefore be treated as immutable by handlers.
 */
export class LocalTransport implements Transport {
  readonly name = 'local';
  private readonly emitter = new EventEmitter();
  private readonly wildcards: WildcardEntry[] = [];
  /** Per event type, the wildcard entries that match it; rebuilt lazily after (un)subscribe. */
  private wildcardCache = new Map<string, WildcardEntry[]>();
  private readonly groups = new Map<string, QueueGroup>();
  private readonly responders = new Map<string, QueueGroup<Envelope | Promise<Envelope>>>();
  private readonly statusListeners = new Set<(status: TransportStatus, detail?: string) => void>();
  private currentStatus: TransportStatus = 'idle';

  get status(): TransportStatus {
    return this.currentStatus;
  }

  async connect(): Promise<void> {
    this.setStatus('connected');
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
    this.wildcards.length = 0;
    this.wildcardCache.clear();
    this.groups.clear();
    this.responders.clear();
    this.setStatus('closed');
  }

  publish(envelope: Envelope): void {
    if (this.currentStatus === 'closed') {
      throw new TransportError('TRANSPORT_CLOSED', `Cannot publish '${envelope.type}': the local transport is closed.`);
    }
    this.emitter.emit(envelope.type, envelope);
    if (this.wildcards.length === 0) return;
    let matching = this.wildcardCache.get(envelope.type);
    if (matching === undefined) {
      matching = this.wildcards.filter((w) => w.matches(envelope.type));
      this.wildcardCache.set(envelope.type, matching);
    }
    for (let i = 0; i < matching.length; i++) matching[i]!.deliver(envelope);
  }

  subscribe(pattern: string, deliver: Deliver, options: TransportSubscribeOptions = {}): TransportSubscription {
    if (options.queue !== undefined) return this.joinGroup(this.groups, pattern, options.queue, deliver, (d) => this.attach(pattern, d));
    return this.attach(pattern, deliver);
  }

  async request(envelope: Envelope, timeoutMs: number): Promise<Envelope> {
    const group = this.responders.get(`${envelope.type}\u0000`);
    if (group === undefined || group.members.length === 0) throw new NoResponderError(envelope.type);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`Request '${envelope.type}'`, timeoutMs)), timeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve(group.dispatch(envelope)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  respond(type: string, responder: Responder, _options: TransportSubscribeOptions = {}): TransportSubscription {
    // Responders always form a group: with several, each request is answered exactly once.
    return this.joinGroup(this.responders, type, '', responder, () => ({ unsubscribe() {} }));
  }

  onStatus(listener: (status: TransportStatus, detail?: string) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private attach(pattern: string, deliver: Deliver): TransportSubscription {
    if (!isPattern(pattern)) {
      const fn = deliver as (e: Envelope) => void;
      this.emitter.on(pattern, fn);
      return { unsubscribe: () => void this.emitter.off(pattern, fn) };
    }
    const entry: WildcardEntry = { matches: compilePattern(pattern), deliver };
    this.wildcards.push(entry);
    this.wildcardCache = new Map();
    return {
      unsubscribe: () => {
        const i = this.wildcards.indexOf(entry);
        if (i >= 0) this.wildcards.splice(i, 1);
        this.wildcardCache = new Map();
      },
    };
  }

  private joinGroup<R>(
    registry: Map<string, QueueGroup<R>>,
    pattern: string,
    queue: string,
    member: (envelope: Envelope) => R,
    attachGroup: (dispatch: (envelope: Envelope) => R) => TransportSubscription,
  ): TransportSubscription {
    const key = `${pattern}\u0000${queue}`;
    let group = registry.get(key);
    if (group === undefined) {
      group = new QueueGroup<R>();
      registry.set(key, group);
      group.attachment = attachGroup(group.dispatch);
    }
    group.members.push(member);
    const joined = group;
    return {
      unsubscribe: () => {
        const i = joined.members.indexOf(member);
        if (i >= 0) joined.members.splice(i, 1);
        if (joined.members.length === 0 && registry.get(key) === joined) {
          registry.delete(key);
          joined.attachment?.unsubscribe();
        }
      },
    };
  }

  private setStatus(status: TransportStatus, detail?: string): void {
    this.currentStatus = status;
    for (const l of this.statusListeners) l(status, detail);
  }
}
