// One UI connection to the host over a transport: validates every incoming message before it is
// acted upon, answers requests, and sends the host's events in batches — at most one batch per
// `batchIntervalMs` (≈30 a second by default), and no more than `maxUnacked` batches ahead of the
// client, so a slow UI gets bigger batches instead of an ever-growing queue. When even that backs
// up, display-only events (offers, handler and queue samples, logs, progress) are dropped from the
// UI stream and counted in the batch's `dropped`; the recording is written elsewhere and loses
// nothing. Final decisions and state changes are kept.
import {
  ClientMessageSchema, METHODS, describeIssues, invalidMessageReply,
  type HostEvent, type MethodName,
} from '../protocol/schema';
import type { Transport } from '../protocol/transport';
import { HostError, type AcceptHost } from './host';

export interface ConnectionOptions {
  /** Minimum time between two event batches, ms. Default 1000/30. */
  batchIntervalMs?: number;
  /** Batches sent and not yet acknowledged before sending waits. Default 4. */
  maxUnacked?: number;
  /** Events per batch at most. Default 20,000. */
  maxBatch?: number;
  /** Queued events above which display-only events are dropped. Default 50,000. */
  maxQueued?: number;
  /** Queued events above which everything new is dropped (and counted). Default 500,000. */
  hardCap?: number;
}

/** Events a UI can do without: it can ask the host for the state again. */
const DROPPABLE = new Set<HostEvent['type']>(['offer', 'handler', 'queue', 'log', 'job-progress']);

export interface HostConnection {
  /** Detaches from the host (the transport stays as it is). */
  dispose(): void;
  /** Batches sent so far. */
  readonly batches: number;
}

export function attachConnection(host: AcceptHost, transport: Transport, opts: ConnectionOptions = {}): HostConnection {
  const interval = opts.batchIntervalMs ?? 1000 / 30;
  const maxUnacked = opts.maxUnacked ?? 4;
  const maxBatch = opts.maxBatch ?? 20_000;
  const maxQueued = opts.maxQueued ?? 50_000;
  const hardCap = opts.hardCap ?? 500_000;

  let queue: HostEvent[] = [];
  let head = 0;
  let dropped: Record<string, number> = {};
  let droppedAny = false;
  let seq = 0;
  let acked = 0; // highest acknowledged seq
  let lastSend = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let disposed = false;
  // Stands for this connection in the host: what it opened is closed when it goes away.
  const caller = {};
  let batches = 0;

  const queued = (): number => queue.length - head;

  const flush = (): void => {
    timer = null;
    if (disposed) return;
    if (queued() === 0 && !droppedAny) return;
    if (seq - acked >= maxUnacked) return; // the ack schedules the next one
    const end = Math.min(queue.length, head + maxBatch);
    const events = queue.slice(head, end);
    head = end;
    if (head === queue.length) { queue = []; head = 0; } else if (head > 65536) { queue = queue.slice(head); head = 0; }
    seq++;
    batches++;
    lastSend = performance.now();
    const message: { kind: 'events'; seq: number; events: HostEvent[]; dropped?: Record<string, number> } = { kind: 'events', seq, events };
    if (droppedAny) { message.dropped = dropped; dropped = {}; droppedAny = false; }
    transport.send(message);
    if (queued() > 0) schedule();
  };

  const schedule = (): void => {
    if (timer !== null || disposed) return;
    timer = setTimeout(flush, Math.max(0, lastSend + interval - performance.now()));
  };

  const onEvent = (e: HostEvent): void => {
    const n = queued();
    if (n >= hardCap || (n >= maxQueued && DROPPABLE.has(e.type))) {
      dropped[e.type] = (dropped[e.type] ?? 0) + 1;
      droppedAny = true;
    } else {
      queue.push(e);
    }
    schedule();
  };

  const reply = (id: number, body: { result: unknown } | { error: { code: string; message: string } }): void => {
    if (!disposed) transport.send({ kind: 'response', id, ...body });
  };

  const onMessage = (raw: unknown): void => {
    if (disposed) return;
    const parsed = ClientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      // Answer the request id when there is one to answer; never act on the message.
      if (!disposed) transport.send(invalidMessageReply(raw, parsed.error));
      return;
    }
    const m = parsed.data;
    if (m.kind === 'ack') {
      if (m.seq > acked && m.seq <= seq) acked = m.seq;
      schedule();
      return;
    }
    const spec = (METHODS as Record<string, (typeof METHODS)[MethodName]>)[m.method];
    if (!spec || !Object.prototype.hasOwnProperty.call(METHODS, m.method)) {
      reply(m.id, { error: { code: 'unknown-method', message: `unknown method ${JSON.stringify(m.method)}` } });
      return;
    }
    const params = spec.params.safeParse(m.params ?? {});
    if (!params.success) {
      reply(m.id, { error: { code: 'invalid-params', message: `${m.method}: ${describeIssues(params.error)}` } });
      return;
    }
    host.handle(m.method as MethodName, params.data as never, caller).then(
      (result) => reply(m.id, { result }),
      (e: unknown) => {
        if (e instanceof HostError) reply(m.id, { error: { code: e.code, message: e.message } });
        else reply(m.id, { error: { code: 'failed', message: `${m.method}: ${e instanceof Error ? e.message : String(e)}` } });
      },
    );
  };

  const unsubscribe = host.subscribe(onEvent);
  transport.onMessage(onMessage);
  transport.onClose(() => dispose());
  transport.send(host.hello());

  function dispose(): void {
    if (disposed) return;
    disposed = true;
    unsubscribe();
    host.releaseCaller(caller);
    if (timer !== null) clearTimeout(timer);
    queue = [];
  }

  return {
    dispose,
    get batches() { return batches; },
  };
}
