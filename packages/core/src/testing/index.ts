export { runTransportContract, type TransportContractOptions } from './transport-contract.js';
export { NatsServer, NatsServerError, findNatsServer, freePort, type NatsServerOptions } from './nats-server.js';
