import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer, type InjectionToken } from 'tsyringe';
import { TradebusError } from './errors.js';
import type { ServiceRegistry } from './agent/base-agent.js';

/**
 * Injection tokens for what the system wires into agents. Tokens are explicit strings rather than
 * classes so injection never depends on emitted decorator metadata.
 */
export const TOKENS = {
  Clock: 'tradebus:clock',
  Transport: 'tradebus:transport',
  Catalogue: 'tradebus:catalogue',
  Logger: 'tradebus:logger',
  Config: 'tradebus:config',
  StateStoreFactory: 'tradebus:state-store-factory',
  Supervisor: 'tradebus:supervisor',
  Health: 'tradebus:health',
  Bus: 'tradebus:bus',
} as const;

/** A fresh child container, so two systems in one process never share registrations. */
export function createContainer(parent: DependencyContainer = rootContainer): DependencyContainer {
  return parent.createChildContainer();
}

export class ServiceNotFoundError extends TradebusError {
  constructor(name: string, known: string[]) {
    super('SERVICE_UNKNOWN', `No service named '${name}' is registered. Registered: ${known.join(', ') || 'none'}. Check the names in your config.`, {
      details: { name, known },
    });
  }
}

/** Named services (providers, repositories...) on top of a tsyringe container. */
export class ContainerServiceRegistry implements ServiceRegistry {
  private readonly names = new Set<string>();

  constructor(readonly container: DependencyContainer) {}

  register<T>(name: string, value: T): this {
    this.container.register(name as InjectionToken<T>, { useValue: value });
    this.names.add(name);
    return this;
  }

  has(name: string): boolean {
    return this.container.isRegistered(name, true);
  }

  get<T>(name: string): T {
    if (!this.has(name)) throw new ServiceNotFoundError(name, [...this.names].sort());
    return this.container.resolve<T>(name);
  }

  list(): string[] {
    return [...this.names].sort();
  }
}
