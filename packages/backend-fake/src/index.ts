export {
  createFakeBackend,
  FakeBackend,
  type FakeBackendOptions,
  FakeContainer,
  sequentialHandles,
} from './fake-backend.js';
