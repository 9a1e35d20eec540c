/**
 * An OCI distribution (Docker registry v2) client on undici: manifests and blobs, anonymous,
 * Bearer-token (the `WWW-Authenticate` realm flow) and basic auth, Docker Hub mirrors, insecure
 * registries (plain HTTP or unverified TLS for listed hosts only), retries with backoff on 429,
 * 5xx and transport errors. No Docker daemon, no skopeo.
 */
import { createHash } from 'node:crypto';
import { Agent, type Dispatcher, request } from 'undici';
import { DigestMismatchError, ImageError, ImageErrorCode, RegistryError } from './errors.js';
import { DOCKER_HUB, type DockerReference, formatDockerReference } from './uri.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryConfig {
  /** Docker Hub mirrors (`https://mirror.example` or `http://127.0.0.1:5000`), tried in order before the Hub. */
  mirrors?: string[];
  /** `host[:port]` of registries that may use plain HTTP or a certificate we cannot verify. */
  insecureRegistries?: string[];
  /** Docker Hub's registry endpoint (default `https://registry-1.docker.io`). */
  dockerHubUrl?: string;
  /** Extra attempts after a retryable failure (default 3). */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt with jitter (default 500). */
  retryBaseMs?: number;
  /** Largest backoff delay, also the cap on `Retry-After` (default 10 s). */
  retryMaxMs?: number;
  connectTimeoutMs?: number;
  /** Time to the response head (default 30 s). */
  headersTimeoutMs?: number;
  /** Idle time between body chunks (default 60 s). */
  bodyTimeoutMs?: number;
  userAgent?: string;
}

/** One base URL to talk to, with its TLS policy. */
export interface Endpoint {
  /** `https://host[:port]` or `http://…`, no trailing slash. */
  url: string;
  /** Skip certificate verification (insecure registries). */
  insecureTls: boolean;
  /** Is a mirror (failures fall through to the next endpoint). */
  mirror: boolean;
}

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * A failure worth another attempt: a transport error (connection refused or reset, a timeout, a
 * socket closed mid-body), not an HTTP answer, a content error or an abort.
 */
export function isTransient(e: unknown): boolean {
  if (e instanceof ImageError) return false; // HTTP answers after retries, content errors
  const code = errorCode(e);
  return (
    RETRY_CODES.has(code) ||
    /^UND_ERR_/.test(code) ||
    /other side closed|socket/i.test(String((e as Error)?.message))
  );
}

/** Parses a `WWW-Authenticate` header: scheme and its parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return { scheme: '', params: {} };
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) {
    params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] as string).toLowerCase(), params };
}

/** The distribution error envelope's first message, if any. */
function registryMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 200);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function errorCode(e: unknown): string {
  let cur = e as { code?: string; cause?: unknown } | undefined;
  for (let i = 0; cur && i < 4; i++) {
    if (typeof cur.code === 'string') return cur.code;
    cur = cur.cause as typeof cur;
  }
  return '';
}

function errorText(e: unknown): string {
  const parts: string[] = [];
  let cur = e as { message?: string; cause?: unknown } | undefined;
  for (let i = 0; cur && i < 4; i++) {
    if (cur.message && !parts.includes(cur.message)) parts.push(cur.message);
    cur = cur.cause as typeof cur;
  }
  return parts.join(': ') || String(e);
}

/** An HTTP response whose body the caller consumes. */
export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

function header(r: Response, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The registry client: shared agents, token cache and per-host scheme memory. */
export class RegistryClient {
  readonly config: Required<Omit<RegistryConfig, 'mirrors' | 'insecureRegistries' | 'userAgent'>> &
    Pick<RegistryConfig, 'userAgent'> & { mirrors: string[]; insecureRegistries: Set<string> };
  private readonly secure: Agent;
  private readonly insecure: Agent;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  /** Host → the URL that worked, for insecure registries (https with unverified TLS, or http). */
  private readonly schemeOf = new Map<string, string>();

  constructor(config: RegistryConfig = {}) {
    const mirrors = (config.mirrors ?? []).map((m) => {
      const u = new URL(m);
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        throw new TypeError(`registry mirror must be an http(s) URL: ${m}`);
      return u.origin + u.pathname.replace(/\/+$/, '');
    });
    this.config = {
      mirrors,
      insecureRegistries: new Set((config.insecureRegistries ?? []).map((h) => h.toLowerCase())),
      dockerHubUrl: (config.dockerHubUrl ?? 'https://registry-1.docker.io').replace(/\/+$/, ''),
      retries: config.retries ?? 3,
      retryBaseMs: config.retryBaseMs ?? 500,
      retryMaxMs: config.retryMaxMs ?? 10_000,
      connectTimeoutMs: config.connectTimeoutMs ?? 15_000,
      headersTimeoutMs: config.headersTimeoutMs ?? 30_000,
      bodyTimeoutMs: config.bodyTimeoutMs ?? 60_000,
      userAgent: config.userAgent ?? 'garden-ts',
    };
    const opts = {
      headersTimeout: this.config.headersTimeoutMs,
      bodyTimeout: this.config.bodyTimeoutMs,
      keepAliveTimeout: 10_000,
    };
    this.secure = new Agent({ ...opts, connect: { timeout: this.config.connectTimeoutMs } });
    this.insecure = new Agent({
      ...opts,
      connect: { timeout: this.config.connectTimeoutMs, rejectUnauthorized: false },
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.secure.close(), this.insecure.close()]);
  }

  /** Whether `hostPort` is listed as insecure. */
  isInsecure(hostPort: string): boolean {
    return this.config.insecureRegistries.has(hostPort.toLowerCase());
  }

  /** Endpoints to try for a reference, in order (mirrors first for Docker Hub). */
  endpoints(ref: DockerReference): Endpoint[] {
    if (ref.registry === DOCKER_HUB) {
      return [
        ...this.config.mirrors.map((url) => ({
          url,
          insecureTls: this.isInsecure(new URL(url).host),
          mirror: true,
        })),
        { url: this.config.dockerHubUrl, insecureTls: false, mirror: false },
      ];
    }
    if (this.isInsecure(ref.registry)) {
      const known = this.schemeOf.get(ref.registry);
      const https = { url: `https://${ref.registry}`, insecureTls: true, mirror: false };
      const http = { url: `http://${ref.registry}`, insecureTls: false, mirror: false };
      return known === http.url ? [http] : known === https.url ? [https] : [https, http];
    }
    return [{ url: `https://${ref.registry}`, insecureTls: false, mirror: false }];
  }

  /** A session for one repository (auth state, the endpoint that answered). */
  session(ref: DockerReference, credentials?: Credentials): RegistrySession {
    return new RegistrySession(this, ref, this.endpoints(ref), credentials);
  }

  /** @internal remembers which URL an insecure registry answered on. */
  rememberScheme(ref: DockerReference, url: string): void {
    if (this.isInsecure(ref.registry)) this.schemeOf.set(ref.registry, url);
  }

  private dispatcherFor(url: string, insecureTls: boolean): Agent {
    return insecureTls || this.isInsecure(new URL(url).host) ? this.insecure : this.secure;
  }

  /**
   * One HTTP request with retries on 408/429/5xx and transport errors (the body of a retried
   * answer is discarded). Resolves with any other answer, body unread.
   * @throws RegistryError (IMAGE_REGISTRY_UNAVAILABLE) once the retries are used up.
   */
  async fetch(
    url: string,
    init: {
      method?: 'GET' | 'HEAD';
      headers?: Record<string, string>;
      insecureTls?: boolean;
      what: string;
      signal?: AbortSignal;
    },
  ): Promise<Response> {
    const dispatcher = this.dispatcherFor(url, init.insecureTls === true);
    let lastError = '';
    let lastStatus = 0;
    for (let attempt = 0; ; attempt++) {
      let retryAfter = 0;
      try {
        const r = await request(url, {
          method: init.method ?? 'GET',
          headers: { 'user-agent': this.config.userAgent ?? 'garden-ts', ...init.headers },
          dispatcher,
          maxRedirections: 5,
          ...(init.signal ? { signal: init.signal } : {}),
        });
        const res: Response = { status: r.statusCode, headers: r.headers, body: r.body };
        if (!RETRY_STATUS.has(r.statusCode)) return res;
        lastStatus = r.statusCode;
        lastError = `HTTP ${r.statusCode} ${registryMessage(await r.body.text().catch(() => ''))}`.trim();
        const ra = Number(header(res, 'retry-after'));
        if (Number.isFinite(ra) && ra > 0) retryAfter = ra * 1000;
      } catch (e) {
        if (init.signal?.aborted) throw e;
        const code = errorCode(e);
        // TLS failures (a plain-HTTP server, an unverifiable certificate) do not heal by retrying.
        if ((!RETRY_CODES.has(code) && !/^UND_ERR_/.test(code)) || isTlsError(e)) {
          throw new RegistryError(
            ImageErrorCode.RegistryUnavailable,
            `${init.what}: ${url}: ${errorText(e)}${tlsHint(url, e)}`,
            0,
            { cause: e },
          );
        }
        lastStatus = 0;
        lastError = errorText(e);
      }
      if (attempt >= this.config.retries) {
        throw new RegistryError(
          ImageErrorCode.RegistryUnavailable,
          `${init.what}: ${new URL(url).host} failed after ${attempt + 1} attempts: ${lastError}`,
          lastStatus,
        );
      }
      const backoff =
        Math.min(this.config.retryMaxMs, this.config.retryBaseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
      await sleep(Math.min(this.config.retryMaxMs, Math.max(backoff, retryAfter)), init.signal);
    }
  }

  /** A bearer token for `scope` from the challenge's realm (cached until it expires). */
  async token(
    params: Record<string, string>,
    scope: string,
    credentials: Credentials | undefined,
    what: string,
  ): Promise<string> {
    const realm = params.realm;
    if (!realm)
      throw new RegistryError(ImageErrorCode.RegistryError, `${what}: Bearer challenge without a realm`, 401);
    const key = `${realm}|${params.service ?? ''}|${scope}|${credentials?.username ?? ''}|${credentials?.password ?? ''}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    const u = new URL(realm);
    if (params.service) u.searchParams.set('service', params.service);
    if (scope) u.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    if (credentials) headers.authorization = basic(credentials);
    const r = await this.fetch(u.toString(), { headers, what: `${what}: token from ${u.host}` });
    const text = await r.body.text();
    if (r.status === 401 || r.status === 403) {
      throw new RegistryError(
        ImageErrorCode.Unauthorized,
        `${what}: the token service ${u.origin}${u.pathname} refused ${credentials ? `the credentials of user "${credentials.username}"` : 'anonymous access'} (HTTP ${r.status}${registryMessage(text) ? `: ${registryMessage(text)}` : ''})`,
        r.status,
      );
    }
    if (r.status !== 200)
      throw new RegistryError(
        ImageErrorCode.RegistryError,
        `${what}: token service answered HTTP ${r.status}`,
        r.status,
      );
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new RegistryError(ImageErrorCode.RegistryError, `${what}: token service sent no JSON`, r.status, {
        cause: e,
      });
    }
    const token = body.token ?? body.access_token;
    if (!token)
      throw new RegistryError(ImageErrorCode.RegistryError, `${what}: token service sent no token`, r.status);
    const ttl = Math.max(10, Math.min(body.expires_in ?? 60, 3600)) * 1000;
    this.tokens.set(key, { token, expires: Date.now() + ttl - 5000 });
    return token;
  }
}

function isTlsError(e: unknown): boolean {
  return (
    /^ERR_SSL|^ERR_TLS|EPROTO|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/.test(errorCode(e)) ||
    /certificate|wrong version number|SSL routines/i.test(errorText(e))
  );
}

function tlsHint(url: string, e: unknown): string {
  if (!url.startsWith('https:') || !isTlsError(e)) return '';
  return ` (if ${new URL(url).host} is a plain-HTTP registry or has a certificate this host cannot verify, list it as an insecure registry)`;
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** A manifest as fetched. */
export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** sha256 of `bytes` (verified against the reference when it is a digest). */
  digest: string;
}

/** Talks to one repository: chooses the endpoint on the first manifest, then keeps it. */
export class RegistrySession {
  private endpoint: Endpoint | undefined;
  private auth: string | undefined;
  private readonly what: string;

  constructor(
    private readonly client: RegistryClient,
    readonly ref: DockerReference,
    private readonly candidates: Endpoint[],
    private readonly credentials?: Credentials,
  ) {
    this.what = `docker://${formatDockerReference(ref)}`;
  }

  /** The endpoint in use (after the first successful manifest fetch). */
  get endpointUrl(): string | undefined {
    return this.endpoint?.url;
  }

  /** GETs `path` below `/v2/<repository>/` with auth; 401 answers run the challenge once. */
  private async get(
    ep: Endpoint,
    path: string,
    accept: string | undefined,
    what: string,
    signal?: AbortSignal,
  ): Promise<Response> {
    const url = `${ep.url}/v2/${this.ref.repository}/${path}`;
    const headers = (): Record<string, string> => ({
      ...(accept ? { accept } : {}),
      ...(this.auth ? { authorization: this.auth } : {}),
    });
    let r = await this.client.fetch(url, {
      headers: headers(),
      insecureTls: ep.insecureTls,
      what,
      ...(signal ? { signal } : {}),
    });
    if (r.status !== 401) return r;
    const challenge = parseChallenge(header(r, 'www-authenticate') ?? '');
    const text = await r.body.text().catch(() => '');
    if (challenge.scheme === 'bearer') {
      const scope = challenge.params.scope ?? `repository:${this.ref.repository}:pull`;
      this.auth = `Bearer ${await this.client.token(challenge.params, scope, this.credentials, what)}`;
    } else if (challenge.scheme === 'basic' && this.credentials && this.auth === undefined) {
      this.auth = basic(this.credentials);
    } else {
      throw this.unauthorized(r.status, text);
    }
    r = await this.client.fetch(url, {
      headers: headers(),
      insecureTls: ep.insecureTls,
      what,
      ...(signal ? { signal } : {}),
    });
    if (r.status === 401) throw this.unauthorized(401, await r.body.text().catch(() => ''));
    return r;
  }

  private unauthorized(status: number, body: string): RegistryError {
    const msg = registryMessage(body);
    return new RegistryError(
      ImageErrorCode.Unauthorized,
      `${this.what}: unauthorized: ${
        this.credentials
          ? `the registry refused the credentials of user "${this.credentials.username}"`
          : 'authentication required (set image.username and image.password)'
      }${msg ? ` (${msg})` : ''}`,
      status,
    );
  }

  /**
   * Fetches a manifest by tag or digest. On the first call each candidate endpoint is tried in
   * order (a mirror that fails or lacks the image falls through to the next).
   */
  async manifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const list = this.endpoint ? [this.endpoint] : this.candidates;
    const failures: { ep: Endpoint; err: Error }[] = [];
    for (const ep of list) {
      try {
        const m = await this.manifestFrom(ep, reference, signal);
        if (!this.endpoint) {
          this.endpoint = ep;
          this.client.rememberScheme(this.ref, ep.url);
        }
        return m;
      } catch (e) {
        if (signal?.aborted) throw e;
        const err = e as Error;
        failures.push({ ep, err });
        // Auth failures of the real registry are final; anything from a mirror falls through, and
        // an insecure registry's https attempt falls back to http on transport errors.
        const code = (e as RegistryError).code;
        if (!ep.mirror && !(ep.insecureTls && code === ImageErrorCode.RegistryUnavailable)) break;
      }
    }
    const last = failures[failures.length - 1] as { ep: Endpoint; err: RegistryError };
    if (failures.length === 1) throw last.err;
    const detail = failures
      .map((f) => `${f.ep.url}: ${f.err.message.replace(`${this.what}: `, '')}`)
      .join('; ');
    throw new RegistryError(last.err.code, `${this.what}: ${detail}`, last.err.status ?? 0, {
      cause: last.err,
    });
  }

  private async manifestFrom(
    ep: Endpoint,
    reference: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const what = `${this.what}: manifest ${reference}`;
    const r = await this.get(ep, `manifests/${reference}`, MANIFEST_ACCEPT, what, signal);
    if (r.status === 404) {
      const msg = registryMessage(await r.body.text().catch(() => ''));
      throw new RegistryError(
        ImageErrorCode.NotFound,
        `${this.what}: image not found (${reference.startsWith('sha256:') ? 'digest' : 'tag'} ${reference}${msg ? `: ${msg}` : ''})`,
        404,
      );
    }
    if (r.status !== 200) {
      const msg = registryMessage(await r.body.text().catch(() => ''));
      throw new RegistryError(
        ImageErrorCode.RegistryError,
        `${what}: HTTP ${r.status}${msg ? ` ${msg}` : ''}`,
        r.status,
      );
    }
    const bytes = await readLimited(r.body, 4 << 20, what);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference)
      throw new DigestMismatchError(what, reference, digest);
    const ct = (header(r, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
    return { bytes, mediaType: ct, digest };
  }

  /** A blob's body (the caller verifies its digest while reading). */
  async blob(
    digest: string,
    signal?: AbortSignal,
    label = 'blob',
  ): Promise<{ body: AsyncIterable<Uint8Array>; size: number | undefined }> {
    const ep = this.endpoint ?? this.candidates[0];
    if (!ep) throw new RegistryError(ImageErrorCode.RegistryError, `${this.what}: no endpoint`, 0);
    const what = `${this.what}: ${label} ${digest}`;
    const r = await this.get(ep, `blobs/${digest}`, undefined, what, signal);
    if (r.status === 404) {
      await r.body.dump();
      throw new RegistryError(ImageErrorCode.NotFound, `${what}: not found in the registry`, 404);
    }
    if (r.status !== 200) {
      const msg = registryMessage(await r.body.text().catch(() => ''));
      throw new RegistryError(
        ImageErrorCode.RegistryError,
        `${what}: HTTP ${r.status}${msg ? ` ${msg}` : ''}`,
        r.status,
      );
    }
    const len = Number(header(r, 'content-length'));
    return { body: r.body, size: Number.isFinite(len) ? len : undefined };
  }
}

/** Reads a whole body, refusing more than `max` bytes. */
export async function readLimited(
  body: AsyncIterable<Uint8Array>,
  max: number,
  what: string,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) throw new RegistryError(ImageErrorCode.InvalidImage, `${what}: larger than ${max} bytes`, 0);
    parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  }
  return Buffer.concat(parts, n);
}
