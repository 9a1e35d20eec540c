export {
  createFakeBackend,
  FAKE_BACKEND_CAPABILITIES,
  FakeBackend,
  type FakeBackendOptions,
  FakeContainer,
  sequentialHandles,
} from './fake-backend.js';
