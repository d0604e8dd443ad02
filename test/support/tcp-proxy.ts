// A TCP proxy a test can cut and restore, to take a real server (the schema registry) away from the
// services that use it without stopping it for everyone else. Cut: open connections are destroyed and
// the port stops listening, so clients see ECONNREFUSED exactly as if the server were down.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** http://127.0.0.1:<port> followed by `path` (for a registry URL with its API path). */
  url(path?: string): string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const makeServer = (): Server =>
    createServer((client) => {
      const upstream = connect(target.port, target.host);
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
  let server: Server | undefined = makeServer();
  const listen = (s: Server, port: number) => new Promise<number>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve((s.address() as { port: number }).port));
  });
  const port = await listen(server, 0);
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    port,
    url: (path = '') => `http://127.0.0.1:${port}${path}`,
    cut: stop,
    async restore() {
      if (server) return;
      server = makeServer();
      await listen(server, port);
    },
    close: stop,
  };
}

/** The proxy's URL for a registry URL: same path, the proxy's host and port. */
export function proxiedUrl(proxy: TcpProxy, url: string): string {
  const u = new URL(url);
  return proxy.url(u.pathname.replace(/\/$/, ''));
}

export function targetOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
}
