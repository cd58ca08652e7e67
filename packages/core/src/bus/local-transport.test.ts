import { runTransportContract } from '../testing/transport-contract.js';
import { LocalTransport } from './local-transport.js';

// One in-process transport shared by every participant, as in a single-process system.
let shared: LocalTransport | undefined;
runTransportContract('local', {
  create: () => {
    if (shared === undefined || shared.status === 'closed') shared = new LocalTransport();
    return shared;
  },
});
