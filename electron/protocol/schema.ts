// The one contract between the accept host and its UIs: every request, response and event that
// crosses a process boundary, defined once with zod. TypeScript types are inferred from these
// schemas; the host, the serve bridge and the client validate what they receive against them.
// Runs in Node and in the browser (no Node imports here).
import { z } from 'zod';

/** Bumped on any incompatible change to the messages below. */
export const PROTOCOL_VERSION = 1;

// ---- shared shapes ------------------------------------------------------------------------------

const int = () => z.number().int();
const nonNegInt = () => z.number().int().min(0);
/** Time since the host (or the session) started, ms. */
const time = () => z.number().min(0);
/** Bytes travel as base64 text. */
const base64 = (max: number) => z.string().max(Math.ceil(max / 3) * 4 + 4).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

export const VerdictSchema = z.enum(['accept', 'reject', 'defer']);
export const FinalVerdictSchema = z.enum(['accept', 'reject', 'expire', 'withdraw', 'error']);
export const DeciderSchema = z.enum(['script', 'fallback', 'person', 'default']);
export const DisciplineSchema = z.enum(['winsock', 'held']);
export const HandlerKindSchema = z.enum(['echo', 'hold', 'close', 'discard']);
export const CallerDataSourceSchema = z.enum(['none', 'syn', 'peek']);
export const FamilySchema = z.enum(['ipv4', 'ipv6']);
export const BackendSchema = z.enum(['posix', 'winsock']);

export const EndpointSchema = z.object({ family: FamilySchema, address: z.string().max(64), port: int().min(0).max(65535) });
export const SockaddrSchema = EndpointSchema.extend({ raw: base64(128) });

export const FlowspecSchema = z.object({
  tokenRate: nonNegInt(),
  tokenBucketSize: nonNegInt(),
  peakBandwidth: nonNegInt(),
  latency: nonNegInt(),
  delayVariation: nonNegInt(),
  serviceType: nonNegInt(),
  maxSduSize: nonNegInt(),
  minimumPolicedSize: nonNegInt(),
  derived: z.record(z.string().max(64), z.string().max(200)),
});
export const QosSchema = z.object({ sending: FlowspecSchema, receiving: FlowspecSchema, providerSpecific: z.string().max(4096) });

export const QueueDepthsSchema = z.object({ kernel: nonNegInt().nullable(), held: nonNegInt(), deferred: nonNegInt() });
export const VerdictCountsSchema = z.object({
  accept: nonNegInt(), reject: nonNegInt(), expire: nonNegInt(), withdraw: nonNegInt(), error: nonNegInt(),
});

/** A listener's settings; everything has a default in the host. */
export const ListenerOptionsSchema = z.object({
  address: z.string().min(1).max(255),
  port: int().min(0).max(65535),
  backlog: int().min(1).max(65535),
  discipline: DisciplineSchema,
  handler: HandlerKindSchema,
  fallback: VerdictSchema,
  budgetMs: int().min(1).max(60_000),
  deferTimeoutMs: int().min(1).max(86_400_000),
  reofferMs: int().min(0).max(60_000),
  deferAcceptS: int().min(0).max(3600),
  fastOpen: z.boolean(),
  conditionalAccept: z.boolean(),
  callbackData: int().min(0).max(0xffffffff),
  memoryLimit: int().min(1 << 20).max(1 << 30),
}).strict();
export const ListenerOptionsPatchSchema = ListenerOptionsSchema.partial().strict();

export const ScriptVersionSchema = z.object({
  version: int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  filename: z.string().max(1024),
  /** When it was applied, host time ms. */
  t: time(),
});
export const ScriptVersionWithSourceSchema = ScriptVersionSchema.extend({ source: z.string() });

export const ListenerStateSchema = z.object({
  id: int().min(1),
  state: z.enum(['stopped', 'running', 'failed']),
  /** Why the last start failed (state 'failed'). */
  error: z.string().nullable(),
  backend: BackendSchema,
  options: ListenerOptionsSchema,
  /** Bound address and port while running (the real port when 0 was asked for). */
  bound: z.object({ address: z.string(), port: int() }).nullable(),
  script: ScriptVersionSchema.nullable(),
  counts: VerdictCountsSchema,
  offers: nonNegInt(),
  /** Requests offered and not yet final. */
  pending: nonNegInt(),
  queue: QueueDepthsSchema,
});

export const ScriptErrorSchema = z.object({
  code: z.string().max(64),
  message: z.string().max(4000),
  line: int().optional(),
  column: int().optional(),
});

/** A compile error, as `script.validate` and `script.apply` report it. */
export const CompileProblemSchema = z.object({
  code: z.string(),
  message: z.string(),
  filename: z.string(),
  line: int(),
  column: int(),
  logs: z.array(z.string()),
});

/** One offer of a request (one call of the condition function). */
export const OfferSchema = z.object({
  t: time(),
  attempt: int().min(1),
  verdict: z.union([VerdictSchema, z.literal('invalid')]),
  by: DeciderSchema,
  ask: z.boolean(),
  conditionUs: z.number().min(0),
  scriptVersion: int().nullable(),
  calleeData: base64(65536).optional(),
  group: int().optional(),
  error: ScriptErrorSchema.optional(),
});

/** A request as the inspector shows it: what the condition function saw, and every offer. */
export const RequestDetailSchema = z.object({
  listener: int(),
  id: int(),
  caller: SockaddrSchema,
  callee: SockaddrSchema,
  callerData: base64(1 << 20),
  callerDataSource: CallerDataSourceSchema,
  sqos: QosSchema.nullable(),
  gqos: z.null(),
  /** Host time of the first offer, ms. */
  firstOfferT: time(),
  state: z.enum(['deciding', 'deferred', 'awaiting-person', 'final']),
  /** The first and the latest offers (a request re-offered for long has thousands). */
  offers: z.array(OfferSchema),
  /** Offers left out between the first ones and the latest ones. */
  offersOmitted: nonNegInt().optional(),
  final: z.object({
    verdict: FinalVerdictSchema, by: z.union([DeciderSchema, z.literal('system')]), result: z.string(), latencyUs: nonNegInt(), t: time(),
  }).nullable(),
});

/** A row of the pending queue. */
export const PendingRequestSchema = z.object({
  listener: int(),
  id: int(),
  caller: EndpointSchema,
  firstOfferT: time(),
  attempts: int(),
  dataBytes: nonNegInt(),
  state: z.enum(['deciding', 'deferred', 'awaiting-person']),
});

/** A request made up for a test run of a script (`script.testRun`). */
export const SampleRequestSchema = z.object({
  caller: EndpointSchema,
  callee: EndpointSchema,
  callerData: base64(65536),
  callerDataSource: CallerDataSourceSchema,
  sqos: QosSchema.nullable(),
  attempt: int().min(1),
  queue: QueueDepthsSchema,
  callbackData: int().min(0).max(0xffffffff),
});

export const TestRunResultSchema = z.object({
  verdict: VerdictSchema,
  by: z.enum(['script', 'fallback']),
  ask: z.boolean(),
  calleeData: base64(65536).optional(),
  group: int().optional(),
  error: ScriptErrorSchema.optional(),
  logs: z.array(z.string()),
  conditionUs: z.number().min(0),
});

export const SimulationParamsSchema = z.object({
  target: z.object({ host: z.string().min(1).max(255), port: int().min(1).max(65535) }),
  count: int().min(0).max(1_000_000),
  concurrency: int().min(1).max(10_000).optional(),
  rate: z.number().positive().max(1_000_000).nullable().optional(),
  data: base64(65536).optional(),
  fastOpen: z.boolean().optional(),
  /** "127.0.0.2-127.0.0.254" or one address. */
  sources: z.string().max(64).optional(),
  abortRatio: z.number().min(0).max(1).optional(),
  holdMs: int().min(0).max(3_600_000).nullable().optional(),
  timeoutMs: int().min(1).max(600_000).optional(),
}).strict();

export const RecordingStateSchema = z.object({
  path: z.string(),
  /** Host time the recording started, ms. */
  startedT: time(),
  events: nonNegInt(),
  error: z.string().nullable(),
});

export const MetricsSchema = z.object({
  listener: int(),
  /** [host time ms, accept latency µs] of final decisions, oldest first (bounded ring). */
  latency: z.array(z.tuple([time(), z.number().min(0)])),
  /** [host time ms, condition time µs] of script offers (bounded ring). */
  conditionUs: z.array(z.tuple([time(), z.number().min(0)])),
  /** [host time ms, kernel depth or -1, held, deferred], sampled ~10 times a second while running. */
  queue: z.array(z.tuple([time(), int(), nonNegInt(), nonNegInt()])),
  /** [host time ms, accept, reject, expire, withdraw, error]: final verdicts per 1 s bucket. */
  verdicts: z.array(z.tuple([time(), nonNegInt(), nonNegInt(), nonNegInt(), nonNegInt(), nonNegInt()])),
  counts: VerdictCountsSchema,
});

export const SessionInfoSchema = z.object({
  session: int(),
  path: z.string(),
  backend: BackendSchema,
  startTime: z.string(),
  complete: z.boolean(),
  warnings: z.array(z.string()),
  durationMs: z.number().min(0),
  listeners: z.array(z.object({ id: int(), address: z.string(), port: int(), discipline: DisciplineSchema, handler: HandlerKindSchema })),
  requests: nonNegInt(),
  offers: nonNegInt(),
  verdicts: VerdictCountsSchema,
});

/** The state of a recorded session at one moment (the replay timeline). */
export const TimelineStateSchema = z.object({
  t: z.number().min(0),
  pending: z.array(PendingRequestSchema),
  counts: VerdictCountsSchema,
  /** The last (up to 200) final decisions at or before t, newest last. */
  recent: z.array(z.object({
    listener: int(), id: int(), caller: z.object({ address: z.string(), port: int() }),
    verdict: FinalVerdictSchema, by: z.union([DeciderSchema, z.literal('system')]), latencyUs: nonNegInt(), t: time(),
  })),
  scripts: z.array(z.object({ listener: int(), version: int() })),
});

/** A final decision, as the `decision` event and `decisions.recent` carry it. */
export const DecisionEventSchema = z.object({
  type: z.literal('decision'), t: time(), listener: int(), id: int(), caller: z.object({ address: z.string(), port: int() }),
  verdict: FinalVerdictSchema, attempts: nonNegInt(), latencyUs: nonNegInt(), by: z.union([DeciderSchema, z.literal('system')]), result: z.string(),
});

const JobIdSchema = int().min(1);
export const JobKindSchema = z.enum(['simulate', 'what-if', 'live-replay', 'open-session']);

// ---- methods ------------------------------------------------------------------------------------

const Empty = z.object({}).strict();
const ListenerRef = z.object({ listener: int().min(1) }).strict();
const ScriptSource = { source: z.string().max(1 << 20), filename: z.string().min(1).max(1024).optional() };

/** Every request the host answers: its params and its result. */
export const METHODS = {
  'host.info': {
    params: Empty,
    result: z.object({
      protocol: z.literal(PROTOCOL_VERSION),
      appVersion: z.string(),
      backend: BackendSchema,
      platform: z.string(),
      /** Host clock now, ms since the host started. */
      t: time(),
      listeners: z.array(ListenerStateSchema),
      recording: RecordingStateSchema.nullable(),
    }),
  },
  'listener.create': {
    params: z.object({ options: ListenerOptionsPatchSchema, script: z.object(ScriptSource).strict().optional() }).strict(),
    result: ListenerStateSchema,
  },
  'listener.update': { params: ListenerRef.extend({ options: ListenerOptionsPatchSchema }).strict(), result: ListenerStateSchema },
  'listener.start': { params: ListenerRef, result: ListenerStateSchema },
  'listener.stop': { params: ListenerRef, result: ListenerStateSchema },
  'listener.remove': { params: ListenerRef, result: Empty },
  'listener.list': { params: Empty, result: z.array(ListenerStateSchema) },
  'script.validate': {
    params: z.object(ScriptSource).strict(),
    result: z.object({ ok: z.boolean(), problem: CompileProblemSchema.nullable() }),
  },
  'script.apply': {
    params: ListenerRef.extend(ScriptSource).strict(),
    result: z.object({ ok: z.boolean(), problem: CompileProblemSchema.nullable(), script: ScriptVersionSchema.nullable() }),
  },
  'script.history': { params: ListenerRef, result: z.array(ScriptVersionWithSourceSchema) },
  'script.testRun': {
    params: z.object({
      ...ScriptSource,
      /** Listener whose limits (budget, memory, fallback) apply; defaults otherwise. */
      listener: int().min(1).optional(),
      /** A pending or recently decided request of that listener, or a sample. */
      request: z.union([z.object({ requestId: int() }).strict(), z.object({ sample: SampleRequestSchema }).strict()]),
    }).strict(),
    result: z.object({ ok: z.boolean(), problem: CompileProblemSchema.nullable(), run: TestRunResultSchema.nullable() }),
  },
  'request.list': {
    params: z.object({ listener: int().min(1).optional() }).strict(),
    result: z.array(PendingRequestSchema),
  },
  'request.get': { params: ListenerRef.extend({ requestId: int() }).strict(), result: RequestDetailSchema },
  /** The most recent final decisions the host keeps (up to 2,000 per listener), oldest first: a UI that (re)connects fills its log. */
  'decisions.recent': {
    params: z.object({ listener: int().min(1).optional(), limit: int().min(1).max(10_000).optional() }).strict(),
    result: z.array(DecisionEventSchema),
  },
  /**
   * A person's verdicts. Each resolves when the native side has applied it (the request's next
   * offer took it) or the request reached a final state another way.
   */
  decide: {
    params: z.object({
      decisions: z.array(z.object({
        listener: int().min(1),
        requestId: int(),
        verdict: VerdictSchema,
        calleeData: base64(65536).optional(),
        group: int().optional(),
      }).strict()).min(1).max(10_000),
    }).strict(),
    result: z.object({
      results: z.array(z.object({
        listener: int(), requestId: int(), ok: z.boolean(), error: z.string().optional(),
        /** The request's final verdict when it became final as a result. */
        final: FinalVerdictSchema.optional(),
      })),
    }),
  },
  'metrics.get': { params: ListenerRef.extend({ sinceT: time().optional() }).strict(), result: MetricsSchema },
  'recording.start': { params: z.object({ path: z.string().min(1).max(4096), overwrite: z.boolean().optional() }).strict(), result: RecordingStateSchema },
  'recording.stop': { params: Empty, result: RecordingStateSchema.nullable() },
  'simulate.start': { params: SimulationParamsSchema, result: z.object({ job: JobIdSchema }) },
  'job.cancel': { params: z.object({ job: JobIdSchema }).strict(), result: z.object({ cancelled: z.boolean() }) },
  'session.open': { params: z.object({ path: z.string().min(1).max(4096) }).strict(), result: SessionInfoSchema },
  'session.stateAt': { params: z.object({ session: int(), t: z.number().min(0) }).strict(), result: TimelineStateSchema },
  'session.requests': {
    params: z.object({ session: int(), offset: nonNegInt().optional(), limit: int().min(1).max(10_000).optional() }).strict(),
    result: z.object({ total: nonNegInt(), requests: z.array(RequestDetailSchema) }),
  },
  'session.whatIf': { params: z.object({ session: int(), ...ScriptSource }).strict(), result: z.object({ job: JobIdSchema }) },
  'session.liveReplay': {
    params: z.object({
      session: int(),
      target: z.object({ host: z.string().min(1).max(255), port: int().min(1).max(65535) }),
      speed: z.number().positive().max(1000).optional(),
    }).strict(),
    result: z.object({ job: JobIdSchema }),
  },
  'session.close': { params: z.object({ session: int() }).strict(), result: Empty },
} as const;

export type MethodName = keyof typeof METHODS;
export type Params<M extends MethodName> = z.input<typeof METHODS[M]['params']>;
export type Result<M extends MethodName> = z.output<typeof METHODS[M]['result']>;

// ---- events -------------------------------------------------------------------------------------

/** Host → UI events. Offers travel slim; the inspector asks for the full request (`request.get`). */
export const HostEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('listener'), t: time(), listener: ListenerStateSchema }),
  z.object({ type: z.literal('listener-removed'), t: time(), listener: int() }),
  z.object({ type: z.literal('script'), t: time(), listener: int(), script: ScriptVersionSchema }),
  z.object({
    type: z.literal('offer'), t: time(), listener: int(), id: int(), attempt: int(), caller: EndpointSchema, dataBytes: nonNegInt(),
    verdict: z.union([VerdictSchema, z.literal('invalid')]), by: DeciderSchema, ask: z.boolean(), conditionUs: z.number().min(0),
    error: ScriptErrorSchema.optional(),
  }),
  DecisionEventSchema,
  z.object({
    type: z.literal('handler'), t: time(), listener: int(), id: int(), handler: HandlerKindSchema,
    event: z.enum(['close', 'reset', 'local-close']), bytesIn: nonNegInt(), bytesOut: nonNegInt(),
  }),
  z.object({ type: z.literal('log'), t: time(), listener: int(), id: int().optional(), message: z.string() }),
  z.object({
    type: z.literal('error'), t: time(), listener: int().optional(), id: int().optional(), code: z.string(), message: z.string(),
    line: int().optional(), column: int().optional(),
  }),
  z.object({ type: z.literal('queue'), t: time(), listener: int(), kernel: nonNegInt().nullable(), held: nonNegInt(), deferred: nonNegInt() }),
  z.object({ type: z.literal('recording'), t: time(), recording: RecordingStateSchema.nullable() }),
  z.object({
    type: z.literal('job-progress'), t: time(), job: JobIdSchema, kind: JobKindSchema, done: nonNegInt(), total: nonNegInt().nullable(),
    detail: z.record(z.string(), z.number()).optional(),
  }),
  z.object({
    type: z.literal('job-done'), t: time(), job: JobIdSchema, kind: JobKindSchema,
    outcome: z.enum(['done', 'cancelled', 'failed']), error: z.string().optional(),
    /** The job's report (SimulationReport, what-if summary, live replay report) as plain JSON. */
    result: z.unknown().optional(),
  }),
]);
export type HostEvent = z.infer<typeof HostEventSchema>;

// ---- envelopes ----------------------------------------------------------------------------------

export const ErrorInfoSchema = z.object({
  /** 'invalid-message', 'invalid-params', 'unknown-method', 'not-found', 'conflict', 'failed', 'disconnected', ... */
  code: z.string(),
  message: z.string(),
});

export const RequestMessageSchema = z.object({
  kind: z.literal('request'),
  id: int().min(1),
  method: z.string().max(64),
  params: z.unknown(),
}).strict();

export const ClientMessageSchema = z.discriminatedUnion('kind', [
  RequestMessageSchema,
  /** The client has handled event batch `seq`: flow control for slow UIs. */
  z.object({ kind: z.literal('ack'), seq: nonNegInt() }).strict(),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** Listeners that were running when the host died: the UI offers to start them again. */
export const LostStateSchema = z.object({
  listeners: z.array(z.object({ options: ListenerOptionsSchema, script: z.object({ source: z.string(), filename: z.string() }).nullable() })),
  /** A recording that was in progress (readable up to its last event). */
  recording: z.string().nullable(),
});

export const ServerMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('hello'), protocol: int(), appVersion: z.string(), backend: BackendSchema, platform: z.string(), hostId: z.string() }),
  z.object({ kind: z.literal('response'), id: int(), result: z.unknown().optional(), error: ErrorInfoSchema.optional() }),
  z.object({
    kind: z.literal('events'),
    seq: nonNegInt(),
    events: z.array(HostEventSchema),
    /** Events left out of this batch because the UI fell behind (the recording has them all), by type. */
    dropped: z.record(z.string(), nonNegInt()).optional(),
  }),
  /** From the process that supervises the host (serve, Electron main), not from the host. */
  z.object({
    kind: z.literal('host-status'),
    state: z.enum(['disconnected', 'restarted']),
    reason: z.string().optional(),
    lost: LostStateSchema.optional(),
  }),
]);

/** The answer to a client message that failed validation: its request id when it has one, else 0. */
export function invalidMessageReply(raw: unknown, error: z.ZodError): { kind: 'response'; id: number; error: { code: string; message: string } } {
  const id = typeof raw === 'object' && raw !== null && Number.isInteger((raw as { id?: unknown }).id) ? (raw as { id: number }).id : 0;
  return { kind: 'response', id, error: { code: 'invalid-message', message: `invalid message: ${describeIssues(error)}` } };
}

type EventsMessage = Extract<z.infer<typeof ServerMessageSchema>, { kind: 'events' }>;

/**
 * An events message that failed validation, kept where it can be: when its envelope is sound
 * (a seq and an events array), the valid events are returned and the others counted in
 * `dropped.invalid`, so the receiver still acknowledges the batch (the host would otherwise stop
 * sending after a few) and resyncs for what it missed. Null when there is no batch to save.
 */
export function salvageEventsMessage(raw: unknown): { message: EventsMessage; invalid: number } | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as { kind?: unknown; seq?: unknown; events?: unknown; dropped?: unknown };
  if (m.kind !== 'events' || !Array.isArray(m.events)) return null;
  const seq = nonNegInt().safeParse(m.seq);
  if (!seq.success) return null;
  const events: HostEvent[] = [];
  let invalid = 0;
  for (const e of m.events) {
    const parsed = HostEventSchema.safeParse(e);
    if (parsed.success) events.push(parsed.data);
    else invalid++;
  }
  const prior = z.record(z.string(), nonNegInt()).safeParse(m.dropped);
  const dropped: Record<string, number> = prior.success ? { ...prior.data } : {};
  if (invalid > 0) dropped.invalid = (dropped.invalid ?? 0) + invalid;
  return { message: { kind: 'events', seq: seq.data, events, ...(Object.keys(dropped).length > 0 ? { dropped } : {}) }, invalid };
}
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type LostState = z.infer<typeof LostStateSchema>;
export type ListenerState = z.infer<typeof ListenerStateSchema>;
export type ListenerOptionsPatch = z.infer<typeof ListenerOptionsPatchSchema>;
export type RequestDetail = z.infer<typeof RequestDetailSchema>;
export type PendingRequest = z.infer<typeof PendingRequestSchema>;
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;

/** One line naming what was wrong with a value: "events[3].verdict: Invalid option ...". */
export function describeIssues(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid';
  const where = first.path.length === 0 ? '' : first.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') + ': ';
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return `${where}${first.message}${more}`;
}
