/**
 * Debian's docker-registry (distribution v2) on 127.0.0.1 for tests: a temp storage dir, a
 * generated config, optionally htpasswd basic auth, token auth (with a token issuer written here)
 * or TLS with a self-signed certificate. Everything stays on loopback.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RegistryOptions {
  auth?: 'none' | 'basic' | 'token';
  tls?: boolean;
  /** Users for basic/token auth (default test:secret). */
  users?: Record<string, string>;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  storage: string;
  users: Record<string, string>;
  /** Token auth: the issuer (counts requests). */
  issuer?: TokenIssuer;
  /** Self-signed TLS certificate (PEM). */
  cert?: string;
  stop(): Promise<void>;
  /** Stops the registry process only (simulating an outage); `start()` brings it back. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/** Paths of a blob in the registry's filesystem storage. */
export function blobDataPath(storage: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

function selfSigned(dir: string, name: string, san: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=${san}`,
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'images-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const users = options.users ?? { test: 'secret' };
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomUUID()}`,
  ];
  let cert: string | undefined;
  if (options.tls) {
    const tls = selfSigned(dir, 'registry', 'IP:127.0.0.1');
    cert = readFileSync(tls.cert, 'utf8');
    lines.push('  tls:', `    certificate: ${tls.cert}`, `    key: ${tls.key}`);
  }
  let issuer: TokenIssuer | undefined;
  if (options.auth === 'basic') {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, '');
    for (const [u, p] of Object.entries(users))
      execFileSync('htpasswd', ['-bB', file, u, p], { stdio: 'ignore' });
    lines.push('auth:', '  htpasswd:', '    realm: test-realm', `    path: ${file}`);
  } else if (options.auth === 'token') {
    issuer = await startTokenIssuer(dir, users);
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${issuer.url}/token`,
      '    service: garden-test-registry',
      '    issuer: garden-test-issuer',
      `    rootcertbundle: ${issuer.certPath}`,
    );
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr?.on('data', (d) => {
      stderr += d;
    });
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      for (let i = 0; ; i++) {
        if (c.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
        try {
          const r = await request(`${url}/v2/`, { dispatcher: agent });
          await r.body.dump();
          if (r.statusCode === 200 || r.statusCode === 401) return;
        } catch {
          // not up yet
        }
        if (i > 200) throw new Error(`docker-registry did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await agent.close();
    }
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    host: `127.0.0.1:${port}`,
    url,
    storage,
    users,
    ...(issuer ? { issuer } : {}),
    ...(cert ? { cert } : {}),
    start,
    kill,
    async stop() {
      await kill();
      await issuer?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TokenIssuer {
  url: string;
  certPath: string;
  /** Requests answered, by outcome. */
  granted: number;
  refused: number;
  stop(): Promise<void>;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/**
 * A token service as distribution's token auth expects: checks basic credentials, grants the
 * requested repository actions to known users (nothing to anonymous callers), signs an RS256 JWT
 * whose `x5c` carries the certificate the registry trusts.
 */
async function startTokenIssuer(dir: string, users: Record<string, string>): Promise<TokenIssuer> {
  const { key, cert } = selfSigned(dir, 'garden-test-issuer', 'DNS:garden-test-issuer');
  const keyPem = readFileSync(key, 'utf8');
  const der = readFileSync(cert, 'utf8').replace(/-----[^-]+-----|\s/g, '');
  const state = { granted: 0, refused: 0 };
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    let user: string | undefined;
    if (auth.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (name !== undefined && users[name] === rest.join(':')) user = name;
      else {
        state.refused++;
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}');
        return;
      }
    }
    const access = (u.searchParams.getAll('scope') ?? []).flatMap((s) => {
      const [type, name, actions] = s.split(':');
      return user && type === 'repository' && name && actions
        ? [{ type, name, actions: actions.split(',') }]
        : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der] };
    const claims = {
      iss: 'garden-test-issuer',
      sub: user ?? '',
      aud: u.searchParams.get('service') ?? '',
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(keyPem);
    state.granted++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    certPath: cert,
    get granted() {
      return state.granted;
    },
    get refused() {
      return state.refused;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
