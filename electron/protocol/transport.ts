// Transports carry protocol messages (plain JSON-compatible objects) between a UI client and a
// host connection. The client and the host see only this interface; MessagePort (Electron),
// WebSocket (serve) and in-process pairs (tests) implement it. Browser-safe: no Node imports.

export interface Transport {
  /** Sends one message. Silently dropped once the transport is closed. */
  send(message: unknown): void;
  /** Sets the receiver of incoming messages (one per transport). */
  onMessage(handler: (message: unknown) => void): void;
  /** Adds a handler called once when the other side goes away or close() is called. */
  onClose(handler: (reason: string) => void): void;
  close(reason?: string): void;
}

/** Shared plumbing: one message handler, one close handler, closing once. */
export abstract class BaseTransport implements Transport {
  protected messageHandler: ((m: unknown) => void) | null = null;
  private readonly closeHandlers: Array<(reason: string) => void> = [];
  private closedReason: string | null = null;
  /** Messages that arrived before a handler was set (a hello sent at once, for example). */
  private early: unknown[] = [];

  get closed(): boolean { return this.closedReason !== null; }

  abstract send(message: unknown): void;
  protected abstract doClose(reason: string): void;

  onMessage(handler: (message: unknown) => void): void {
    this.messageHandler = handler;
    const early = this.early;
    this.early = [];
    for (const m of early) handler(m);
  }

  onClose(handler: (reason: string) => void): void {
    this.closeHandlers.push(handler);
    if (this.closedReason !== null) handler(this.closedReason);
  }

  close(reason = 'closed'): void {
    if (this.closedReason !== null) return;
    this.doClose(reason);
    this.closedBy(reason);
  }

  /** Delivers an incoming message (to the handler, or keeps it until there is one). */
  protected deliver(message: unknown): void {
    if (this.closedReason !== null) return;
    if (this.messageHandler) this.messageHandler(message);
    else this.early.push(message);
  }

  /** The other side went away. */
  protected closedBy(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    for (const h of this.closeHandlers) h(reason);
  }
}

/**
 * Two connected in-process transports (tests, and a host living in the UI's own process).
 * Messages are copied on the way, as they would be across a process boundary, and delivered on a
 * later microtask, never inside send().
 */
export function inProcessPair(): [Transport, Transport] {
  class Side extends BaseTransport {
    peer: Side | null = null;
    send(message: unknown): void {
      if (this.closed || !this.peer) return;
      const copy = JSON.parse(JSON.stringify(message)) as unknown;
      const peer = this.peer;
      queueMicrotask(() => peer.receive(copy));
    }
    receive(message: unknown): void { this.deliver(message); }
    protected doClose(): void {
      const peer = this.peer;
      if (peer) queueMicrotask(() => peer.peerClosed());
    }
    peerClosed(): void { this.closedBy('peer closed'); }
  }
  const a = new Side();
  const b = new Side();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** The part of a MessagePort the transport uses: DOM MessagePort, Node's worker_threads MessagePort. */
export interface PortLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: () => void): void;
  start?(): void;
  close(): void;
}

/**
 * A transport over a MessagePort (Electron renderer ↔ utilityProcess host). MessagePorts do not
 * report a closed peer everywhere; `close` events are used where they exist, and the supervisor
 * says `host-status: disconnected` otherwise.
 */
export class MessagePortTransport extends BaseTransport {
  constructor(private readonly port: PortLike) {
    super();
    port.addEventListener('message', (event) => this.deliver(event.data));
    port.addEventListener('close', () => this.closedBy('port closed'));
    port.start?.();
  }

  send(message: unknown): void {
    if (!this.closed) this.port.postMessage(message);
  }

  protected doClose(): void {
    this.port.close();
  }
}

/** The part of a WebSocket the transport uses: the browser's WebSocket and the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  addEventListener(type: 'open', listener: () => void): void;
}

const WS_OPEN = 1;

/**
 * A transport over a WebSocket, one JSON text frame per message. Messages sent before the socket
 * is open are queued. A frame that is not JSON is delivered as `undefined`, which the receiving
 * side's validation turns into an error reply.
 */
export class WebSocketTransport extends BaseTransport {
  private queued: string[] = [];

  constructor(private readonly ws: WebSocketLike) {
    super();
    ws.addEventListener('open', () => {
      const q = this.queued;
      this.queued = [];
      for (const text of q) ws.send(text);
    });
    ws.addEventListener('message', (event) => {
      const data = event.data;
      let value: unknown;
      try {
        value = typeof data === 'string' ? JSON.parse(data) : JSON.parse(new TextDecoder().decode(data as ArrayBuffer));
      } catch {
        value = undefined;
      }
      this.deliver(value);
    });
    ws.addEventListener('close', (event) => this.closedBy(event.reason || `socket closed (${event.code})`));
    ws.addEventListener('error', () => { /* a 'close' event follows */ });
  }

  send(message: unknown): void {
    if (this.closed) return;
    const text = JSON.stringify(message);
    if (this.ws.readyState === WS_OPEN) this.ws.send(text);
    else this.queued.push(text);
  }

  protected doClose(reason: string): void {
    // A close reason may be at most 123 bytes of UTF-8.
    let r = reason;
    while (new TextEncoder().encode(r).length > 123) r = r.slice(0, -1);
    this.ws.close(1000, r);
  }
}
