export { runBackendContract } from './run-backend-contract.js';
export type { BackendCapabilities, ContractOptions, ContractTarget } from './types.js';
