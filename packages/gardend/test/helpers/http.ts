import { request } from 'node:http';

/** One request on a fresh connection to the unix socket, as the Go client sends it. */
export function call(
  socketPath: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Host: 'api', Connection: 'close' };
    if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
    const req = request({ socketPath, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `GET /ping`; resolves with the body. */
export async function ping(socketPath: string): Promise<string> {
  return (await call(socketPath, 'GET', '/ping')).body;
}
