/**
 * Starts the canonical Go Garden server (cmd/gogarden) on a temporary unix socket. The
 * implementation is plain ESM (go-server.mjs) so that the bench harness can use it under node.
 */
export {
  buildGoGarden,
  GO_CONFORMANCE_DIR,
  GO_FAKE_BACKEND_CAPABILITIES,
  GOGARDEN_BINARY,
  type GoGardenServer,
  type GoGardenServerOptions,
  goExecutable,
  startGoGardenServer,
} from './go-server.mjs';
