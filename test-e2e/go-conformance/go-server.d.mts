/** Types of go-server.mjs. */

/** The Go module directory. */
export declare const GO_CONFORMANCE_DIR: string;
/** Where `cmd/gogarden` is built (gitignored). */
export declare const GOGARDEN_BINARY: string;

/** The capability manifest of cmd/gogarden's backend (the Go fakebackend). */
export declare const GO_FAKE_BACKEND_CAPABILITIES: Readonly<
  import('@garden-ts/api-types').BackendCapabilities
>;

/** Options of {@link startGoGardenServer}. */
export interface GoGardenServerOptions {
  /** Default container grace time as a Go duration (`"5m"`, `"300ms"`); default `"0"` = never reap. */
  graceTime?: string;
  /** Milliseconds to wait for the server to listen. Default 30 000. */
  startTimeoutMs?: number;
}

/** A running canonical Go Garden server. */
export interface GoGardenServer {
  /** The unix socket it listens on. */
  socketPath: string;
  /** Its process id. */
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its socket directory. */
  stop(): Promise<void>;
}

/** The `go` executable: `$GO`, else `go` on PATH, else /usr/local/go/bin/go. */
export declare function goExecutable(): string;

/** Builds `cmd/gogarden` into `bin/` once per process; resolves to the binary's path. */
export declare function buildGoGarden(): Promise<string>;

/**
 * Builds (once) and starts `cmd/gogarden` on a fresh temporary unix socket.
 * @throws Error when the build fails or the server does not come up.
 */
export declare function startGoGardenServer(opts?: GoGardenServerOptions): Promise<GoGardenServer>;
