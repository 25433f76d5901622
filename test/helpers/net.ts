// Client-side helpers for tests: real TCP connections on loopback, and what the client observed.
import * as fs from 'node:fs';
import * as net from 'node:net';

export interface ClientOutcome {
  connected: boolean;
  /** How the connection ended from the client's side. */
  end: 'eof' | 'reset' | 'refused' | 'timeout' | 'error' | 'open';
  error?: string;
  received: Buffer;
  /** The client's own port, as connected. */
  localPort?: number;
}

export interface ClientOptions {
  host?: string;
  localAddress?: string;
  localPort?: number;
  send?: string | Buffer;
  /** Delay before sending, ms. */
  sendAfterMs?: number;
  /** Resolve after this long even if the connection is still open (end: 'open'). */
  timeoutMs?: number;
  /** End our side (FIN) after sending. */
  endAfterSend?: boolean;
  /** Resolve (end: 'open') and close as soon as this many bytes have arrived. */
  expectBytes?: number;
}

export function client(port: number, opts: ClientOptions = {}): { socket: net.Socket; outcome: Promise<ClientOutcome> } {
  const socket = net.connect({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress, localPort: opts.localPort });
  const chunks: Buffer[] = [];
  let connected = false;
  let localPort: number | undefined;
  const outcome = new Promise<ClientOutcome>((resolve) => {
    let settled = false;
    const done = (end: ClientOutcome['end'], error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ connected, end, error, received: Buffer.concat(chunks), localPort });
    };
    const timer = setTimeout(() => done('open'), opts.timeoutMs ?? 5000);
    socket.on('connect', () => {
      connected = true;
      localPort = socket.localPort;
      if (opts.send !== undefined) {
        const send = (): void => {
          socket.write(opts.send as string | Buffer);
          if (opts.endAfterSend) socket.end();
        };
        if (opts.sendAfterMs) setTimeout(send, opts.sendAfterMs); else send();
      }
    });
    socket.on('data', (d) => {
      chunks.push(d);
      if (opts.expectBytes !== undefined && Buffer.concat(chunks).length >= opts.expectBytes) {
        done('open');
        socket.destroy();
      }
    });
    socket.on('end', () => { done('eof'); socket.destroy(); });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') done('reset', e.code);
      else if (e.code === 'ECONNREFUSED') done('refused', e.code);
      else done('error', e.code ?? e.message);
    });
    socket.on('close', () => done('eof'));
  });
  return { socket, outcome };
}

/** Open file descriptors of this process (Linux). */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

export async function waitFor<T>(check: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
