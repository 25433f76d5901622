// Jobs slice: caller simulations started from this UI (or seen running on the host), their live
// progress from `job-progress` and their report from `job-done`. Progress comes ~4 times a second
// per job, so it lives in React state like any other slow-changing fact.
import { z } from 'zod';
import type { Params } from '../../../electron/protocol/schema';
import { plainError, type Slice } from './deps';

/** What a client can observe, in the order the report lists them (electron/host/simulator.ts). */
export const CLIENT_OUTCOMES = ['served', 'refused', 'reset', 'eof', 'timeout', 'aborted', 'open', 'error'] as const;
export type ClientOutcome = typeof CLIENT_OUTCOMES[number];

const PercentilesSchema = z.object({
  p50: z.number().nullable(), p90: z.number().nullable(), p99: z.number().nullable(), max: z.number().nullable(),
});

/**
 * The simulator's report as `job-done` carries it. The protocol types it as unknown (each job kind
 * has its own), so it is checked here before the view reads it.
 */
export const SimulationReportSchema = z.object({
  target: z.object({ host: z.string(), port: z.number() }),
  requested: z.number(),
  count: z.number(),
  started: z.number(),
  cancelled: z.number(),
  connected: z.number(),
  outcomes: z.object(Object.fromEntries(CLIENT_OUTCOMES.map((o) => [o, z.number()])) as Record<ClientOutcome, z.ZodNumber>),
  errors: z.record(z.string(), z.number()),
  connectMs: PercentilesSchema,
  outcomeMs: PercentilesSchema,
  bytesOut: z.number(),
  bytesIn: z.number(),
  elapsedMs: z.number(),
  reason: z.string(),
});
export type SimulationReport = z.infer<typeof SimulationReportSchema>;
export type SimulationParams = Params<'simulate.start'>;

export interface SimulationRun {
  /** Local key: runs exist before the host has named their job. */
  key: number;
  /** The host's job id, once `simulate.start` answered. */
  job: number | null;
  /** What was asked for; null for a simulation some other client started. */
  params: SimulationParams | null;
  state: 'starting' | 'running' | 'done' | 'cancelled' | 'failed';
  cancelling: boolean;
  done: number;
  total: number | null;
  /** started, inFlight and one count per outcome, from the latest progress event. */
  detail: Record<string, number>;
  report: SimulationReport | null;
  /** Why it failed or could not start, in the host's words. */
  error: string | null;
  /** Why a cancel did not go through. */
  cancelError: string | null;
}

export interface JobsSlice {
  /** Newest last; at most SIMULATIONS_KEPT. */
  simulations: readonly SimulationRun[];
  /** Starts a simulation: returns the new run's key at once; the run says whether the host took it. */
  startSimulation(params: SimulationParams): number;
  cancelSimulation(key: number): Promise<void>;
  dismissSimulation(key: number): void;
}

export const SIMULATIONS_KEPT = 20;

const finished = (r: SimulationRun): boolean => r.state === 'done' || r.state === 'cancelled' || r.state === 'failed';

export const createJobsSlice: Slice<JobsSlice> = ({ client, track }) => (set, get) => {
  let nextKey = 1;
  let hostId: string | null = client.hello?.hostId ?? null;

  const update = (key: number, fn: (r: SimulationRun) => SimulationRun): void => {
    set({ simulations: get().simulations.map((r) => (r.key === key ? fn(r) : r)) });
  };
  /** Finished runs go first when there are too many; running ones are never dropped. */
  const trim = (all: SimulationRun[]): SimulationRun[] => {
    while (all.length > SIMULATIONS_KEPT) {
      const i = all.findIndex(finished);
      if (i < 0) break;
      all.splice(i, 1);
    }
    return all;
  };
  const add = (run: SimulationRun): void => {
    set({ simulations: trim([...get().simulations, run]) });
  };
  const blank = (over: Partial<SimulationRun>): SimulationRun => ({
    key: nextKey++, job: null, params: null, state: 'running', cancelling: false, done: 0, total: null, detail: {},
    report: null, error: null, cancelError: null, ...over,
  });

  track(client.onEvents((batch) => {
    let runs: SimulationRun[] | null = null;
    for (const e of batch.events) {
      if ((e.type !== 'job-progress' && e.type !== 'job-done') || e.kind !== 'simulate') continue;
      runs ??= [...get().simulations];
      let i = runs.findIndex((r) => r.job === e.job);
      if (i < 0) {
        // Started by another client (or its start answer is still on the way): shown all the same.
        runs.push(blank({ job: e.job }));
        i = runs.length - 1;
      }
      const r = runs[i]!;
      if (e.type === 'job-progress') {
        if (finished(r)) continue;
        runs[i] = { ...r, state: 'running', done: e.done, total: e.total, detail: e.detail ?? r.detail };
      } else {
        let report: SimulationReport | null = null;
        let error = e.error ?? null;
        if (e.result !== undefined) {
          const parsed = SimulationReportSchema.safeParse(e.result);
          if (parsed.success) report = parsed.data;
          else error = 'The host sent a simulation report this view cannot read.';
        }
        runs[i] = {
          ...r, state: e.outcome, cancelling: false, report, error,
          done: report ? report.count : r.done, total: report ? report.requested : r.total,
          detail: report ? { ...r.detail, ...report.outcomes, inFlight: 0, started: report.started } : r.detail,
        };
      }
    }
    if (runs) set({ simulations: trim(runs) });
  }));

  track(client.onStatus((change) => {
    const id = change.hello?.hostId ?? null;
    const gone = change.state === 'connected' ? hostId !== null && id !== null && id !== hostId : change.lost !== undefined;
    if (change.state === 'connected') hostId = id ?? hostId;
    if (!gone) return;
    // The host that ran them is gone, and its jobs with it.
    const simulations = get().simulations.map((r) => (finished(r) ? r : {
      ...r, state: 'failed' as const, cancelling: false, error: 'The host restarted; the simulation stopped with it.',
    }));
    set({ simulations });
  }));

  return {
    simulations: [],

    startSimulation: (params) => {
      const run = blank({ params, state: 'starting', total: params.count });
      add(run);
      client.call('simulate.start', params).then(({ job }) => {
        const runs = [...get().simulations];
        const early = runs.findIndex((r) => r.job === job && r.key !== run.key);
        const mine = runs.findIndex((r) => r.key === run.key);
        if (early >= 0) {
          // Its events overtook the answer: they made a run of their own; fold it into ours.
          const e = runs[early]!;
          runs[mine] = { ...e, key: run.key, params };
          runs.splice(early, 1);
        } else if (mine >= 0) {
          runs[mine] = { ...runs[mine]!, job, state: 'running' };
        }
        set({ simulations: runs });
      }, (e: unknown) => {
        update(run.key, (r) => ({ ...r, state: 'failed', error: plainError(e) }));
      });
      return run.key;
    },

    cancelSimulation: async (key) => {
      const run = get().simulations.find((r) => r.key === key);
      if (!run || run.job === null || finished(run)) return;
      update(key, (r) => ({ ...r, cancelling: true, cancelError: null }));
      try {
        const { cancelled } = await client.call('job.cancel', { job: run.job });
        // Not cancelled: it had already finished; its job-done event says how.
        if (!cancelled) update(key, (r) => ({ ...r, cancelling: false }));
      } catch (e) {
        update(key, (r) => ({ ...r, cancelling: false, cancelError: `Could not cancel: ${plainError(e)}` }));
      }
    },

    dismissSimulation: (key) => set({ simulations: get().simulations.filter((r) => r.key !== key || !finished(r)) }),
  };
};
