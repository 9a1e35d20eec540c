import { request } from 'node:http';

/** `GET /ping` on a fresh connection to the unix socket, as the Go client sends it; resolves with the body. */
export function ping(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: '/ping', headers: { Host: 'api', Connection: 'close' }, setHost: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
