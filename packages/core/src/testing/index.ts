export { runTransportContract, type TransportContractOptions } from './transport-contract.js';
