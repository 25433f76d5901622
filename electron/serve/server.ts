// `serve`: the workbench UI in a browser. One HTTP server for the built renderer and a WebSocket
// endpoint (/ws) where each connection is one UI connection to the host process.
//
// The host can open sockets and run scripts, so nothing is served without the per-run token: from
// `?token=`, an `Authorization: Bearer` header, or the cookie set when the page was loaded with
// the token (so the page's own assets and its WebSocket need no token in their URLs). A WebSocket
// upgrade from a page of another origin is refused even with the cookie. Loopback only unless the
// caller explicitly allows remote access.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { pipeline, type Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WebSocketTransport, type Transport, type WebSocketLike } from '../protocol/transport';

export interface ServerOptions {
  /** One new UI connection to the host (HostProcess.connect). */
  connect: () => Transport;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Port; default 0 (any free port). */
  port?: number;
  /** Required for a host that is not a loopback address. */
  allowRemote?: boolean;
  /** The built renderer; default dist/renderer of this package. */
  rendererDir?: string;
  /** The access token; default a random one. */
  token?: string;
  /**
   * Every this many ms each WebSocket is pinged; one that has not answered the previous ping is
   * cut off and its host connection closed (a browser that went away without closing). Default
   * 30,000; 0 turns it off.
   */
  heartbeatMs?: number;
}

export class ServeError extends Error {
  override readonly name = 'ServeError';
  constructor(readonly code: 'remote' | 'in-use' | 'listen', message: string) {
    super(message);
  }
}

export interface WorkbenchServer {
  /** The URL to open, token included. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** Closes every WebSocket and the HTTP server. */
  close(): Promise<void>;
}

const MAX_FRAME = 32 << 20;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return net.isIPv6(host) && (host === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(host));
}

/** The package's dist/renderer, from dist/electron/serve (built) or electron/serve (source). */
function defaultRendererDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'accept-workbench') return path.join(dir, 'dist', 'renderer');
    } catch {
      // not the package root; go up
    }
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '../../renderer');
}

/** Constant-time comparison that also hides the length (both sides hashed first). */
function sameSecret(given: string, token: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(a, b);
}

/** Path and query of a request target, without letting "//host/..." be read as an authority. */
function splitTarget(target: string | undefined): { pathname: string; query: URLSearchParams } {
  const raw = target ?? '/';
  const q = raw.indexOf('?');
  return { pathname: q < 0 ? raw : raw.slice(0, q), query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

function cookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

function htmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page shown while the React renderer has not been built: plain words, no script. */
function notBuiltPage(rendererDir: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Accept Workbench</title></head>
<body>
<h1>Accept Workbench</h1>
<p>The server and the accept host are running, but the user interface has not been built yet:
there is no <code>index.html</code> in <code>${htmlEscape(rendererDir)}</code>.</p>
<p>Build it with <code>npm run build:renderer</code> in the workbench's directory, then reload this page.
The server keeps running meanwhile.</p>
</body>
</html>
`;
}

export async function startServer(opts: ServerOptions): Promise<WorkbenchServer> {
  const bindHost = opts.host ?? '127.0.0.1';
  if (!isLoopbackHost(bindHost) && !opts.allowRemote) {
    throw new ServeError('remote', `${bindHost} is not a loopback address; anyone who reaches it with the token can drive the host (add --allow-remote to mean it)`);
  }
  const token = opts.token ?? crypto.randomBytes(32).toString('base64url');
  const rendererDir = path.resolve(opts.rendererDir ?? defaultRendererDir());
  let port = 0;
  // Cookies are per host name, not per port: a port-specific name keeps two servers apart.
  const cookieName = (): string => `aw_token_${port}`;
  const urlHost = bindHost.includes(':') ? `[${bindHost}]` : bindHost;

  /** The right token in the query, an Authorization header or the cookie; `viaQuery` for the cookie. */
  const authorize = (req: http.IncomingMessage, query: URLSearchParams): { ok: boolean; viaQuery: boolean } => {
    const q = query.get('token');
    if (q !== null && sameSecret(q, token)) return { ok: true, viaQuery: true };
    const auth = req.headers.authorization;
    const bearer = auth && /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (bearer && sameSecret(bearer[1], token)) return { ok: true, viaQuery: false };
    const c = cookies(req.headers.cookie).get(cookieName());
    if (c !== undefined && sameSecret(c, token)) return { ok: true, viaQuery: false };
    return { ok: false, viaQuery: false };
  };

  /** host:port as the client addressed us, when the Host header is well-formed (else as bound). */
  const addressed = (req: http.IncomingMessage): string => {
    const h = req.headers.host;
    if (h && /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/.test(h)) return h;
    return `${urlHost}:${port}`;
  };

  const securityHeaders = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.setHeader('Content-Security-Policy',
      `default-src 'self'; script-src 'self'; connect-src 'self' ws://${addressed(req)}; style-src 'self' 'unsafe-inline'; img-src 'self' data:`);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // The URL carries the token: never hand it on as a referrer, never be framed by another page.
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
  };

  const plain = (res: http.ServerResponse, status: number, text: string, head: boolean): void => {
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text + '\n'));
    res.end(head ? undefined : text + '\n');
  };

  const serveFile = async (res: http.ServerResponse, pathname: string, head: boolean): Promise<void> => {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return plain(res, 404, 'not found', head);
    }
    if (rel.includes('\0')) return plain(res, 404, 'not found', head);
    // join() resolves "..": anything that lands outside the renderer directory is refused.
    let file = path.join(rendererDir, rel);
    if (file !== rendererDir && !file.startsWith(rendererDir + path.sep)) return plain(res, 404, 'not found', head);
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
      if (stat.isDirectory()) {
        file = path.join(file, 'index.html');
        stat = await fs.promises.stat(file);
      }
      // A symlink inside the build must not lead outside it either.
      const [real, realRoot] = await Promise.all([fs.promises.realpath(file), fs.promises.realpath(rendererDir)]);
      if (!real.startsWith(realRoot + path.sep)) return plain(res, 404, 'not found', head);
    } catch {
      if (rel === '/' || rel === '/index.html') {
        const page = notBuiltPage(rendererDir);
        res.statusCode = 200;
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.setHeader('Content-Length', Buffer.byteLength(page));
        res.setHeader('Cache-Control', 'no-store');
        res.end(head ? undefined : page);
        return;
      }
      return plain(res, 404, 'not found', head);
    }
    if (!stat.isFile()) return plain(res, 404, 'not found', head);
    res.statusCode = 200;
    res.setHeader('Content-Type', CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream');
    res.setHeader('Content-Length', stat.size);
    res.setHeader('Cache-Control', 'no-cache');
    if (head) {
      res.end();
      return;
    }
    // pipeline, not pipe: a response closed early (a cancelled download) closes the file too.
    pipeline(fs.createReadStream(file), res, () => undefined);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    securityHeaders(req, res);
    const { pathname, query } = splitTarget(req.url);
    const head = req.method === 'HEAD';
    const auth = authorize(req, query);
    if (!auth.ok) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return plain(res, 401, 'unauthorized: open the URL that `accept-workbench serve` printed (it carries the token)', head);
    }
    if (auth.viaQuery) {
      res.setHeader('Set-Cookie', `${cookieName()}=${token}; Path=/; HttpOnly; SameSite=Strict`);
    }
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      return plain(res, 405, 'method not allowed', false);
    }
    if (pathname === '/ws') return plain(res, 426, 'this is the WebSocket endpoint', head);
    serveFile(res, pathname, head).catch(() => {
      if (!res.headersSent) plain(res, 500, 'internal error', head);
      else res.destroy();
    });
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });

  // Sockets that answered the last ping (or are new since it).
  const alive = new WeakSet<WebSocket>();
  const heartbeatMs = opts.heartbeatMs ?? 30_000;
  const heartbeat = heartbeatMs > 0 ? setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, heartbeatMs) : null;
  heartbeat?.unref();

  /** One browser connection ↔ one host connection. */
  const bridge = (ws: WebSocket): void => {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
    const ui = new WebSocketTransport(ws as unknown as WebSocketLike);
    const host = opts.connect();
    ui.onMessage((m) => host.send(m));
    host.onMessage((m) => ui.send(m));
    ui.onClose((reason) => host.close(reason));
    host.onClose((reason) => ui.close(reason));
  };

  const refuse = (socket: Duplex, status: number, text: string): void => {
    const body = text + '\n';
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  };

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const { pathname, query } = splitTarget(req.url);
    if (!authorize(req, query).ok) return refuse(socket, 401, 'unauthorized');
    if (pathname !== '/ws') return refuse(socket, 404, 'not found');
    // A page elsewhere can open a WebSocket to us (and the browser would add our cookie): only
    // our own pages may. Non-browser clients send no Origin and are let through on the token.
    const origin = req.headers.origin;
    if (origin !== undefined && origin.toLowerCase() !== `http://${addressed(req)}`.toLowerCase()) {
      return refuse(socket, 403, 'forbidden: the page is not from this server');
    }
    wss.handleUpgrade(req, socket, head, bridge);
  };

  const server = http.createServer(onRequest);
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      const where = `${urlHost}:${opts.port ?? 0}`;
      if (e.code === 'EADDRINUSE') reject(new ServeError('in-use', `cannot listen on ${where}: address already in use`));
      else reject(new ServeError('listen', `cannot listen on ${where}: ${e.code ?? e.message}`));
    };
    server.once('error', onError);
    server.listen(opts.port ?? 0, bindHost, () => {
      server.off('error', onError);
      resolve();
    });
  });
  port = (server.address() as net.AddressInfo).port;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${port}/?token=${token}`,
    host: bindHost,
    port,
    token,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        if (heartbeat) clearInterval(heartbeat);
        for (const ws of wss.clients) ws.close(1001, 'the server is stopping');
        // Clients that do not answer the close handshake are cut off.
        const cut = setTimeout(() => { for (const ws of wss.clients) ws.terminate(); }, 1000);
        cut.unref();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
