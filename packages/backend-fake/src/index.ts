// The shared ProcessIO output implementation's bound, under this package's historical name.
export { DEFAULT_OUTPUT_BACKLOG_LIMIT as DEFAULT_BACKLOG_LIMIT } from '@garden-ts/api-types';
export { COMMANDS, type Command, type CommandContext } from './commands.js';
export {
  createFakeBackend,
  FakeBackend,
  type FakeBackendOptions,
  FakeContainer,
  sequentialHandles,
} from './fake-backend.js';
export { EXIT_SIGKILL, EXIT_SIGTERM } from './simulated-process.js';
