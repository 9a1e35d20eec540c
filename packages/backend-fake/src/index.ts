export { COMMANDS, type Command, type CommandContext } from './commands.js';
export {
  createFakeBackend,
  FakeBackend,
  type FakeBackendOptions,
  FakeContainer,
  sequentialHandles,
} from './fake-backend.js';
export { PortPool } from './port-pool.js';
export { DEFAULT_BACKLOG_LIMIT } from './process-output.js';
export { EXIT_SIGKILL, EXIT_SIGTERM } from './simulated-process.js';
