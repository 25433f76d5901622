// @vitest-environment jsdom
// The caller simulator view: the form's checks (one message per field, in plain words), Start
// with the params the host gets, live progress from job-progress, Cancel, the outcome table from
// job-done, and errors where they happen (a start the host refuses, a job that fails, a report
// that does not read). Last, a real simulation against a real listener through the view.
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { HostEvent } from '../../electron/protocol/schema';
import { DEFAULT_DRAFT, parseHex, parseSimulationDraft, type SimulationDraft } from '../../renderer/src/components/SimulatorForm';
import { SimulatorView } from '../../renderer/src/components/SimulatorView';
import { fakeWorkbench, listenerState, renderWith, until } from './helpers';
import { componentSuite } from './real-host';

const suite = componentSuite();

const listeners = { 1: listenerState(1), 2: listenerState(2, { state: 'stopped', bound: null }) };
const draft = (over: Partial<SimulationDraft>): SimulationDraft => ({ ...DEFAULT_DRAFT, target: '1', ...over });
const problemsOf = (over: Partial<SimulationDraft>) => parseSimulationDraft(draft(over), listeners).problems;

describe('simulation form checks', () => {
  it('turns a valid draft into simulate.start params', () => {
    const { params, problems } = parseSimulationDraft(draft({
      count: '1,000', concurrency: '50', rate: '200', data: 'HELLO', fastOpen: true, abortRatio: '0.25',
      sources: '127.0.0.2-127.0.0.254', holdMs: '100', timeoutMs: '2000',
    }), listeners);
    expect(problems).toEqual({});
    expect(params).toEqual({
      target: { host: '127.0.0.1', port: 40_001 }, count: 1000, concurrency: 50, rate: 200, data: 'SEVMTE8=', fastOpen: true,
      abortRatio: 0.25, sources: '127.0.0.2-127.0.0.254', holdMs: 100, timeoutMs: 2000,
    });
    // Optional fields left empty are left out; a wildcard bind is reached on loopback.
    const wild = { 1: listenerState(1, { bound: { address: '0.0.0.0', port: 7000 } }) };
    expect(parseSimulationDraft(draft({}), wild).params).toEqual({ target: { host: '127.0.0.1', port: 7000 }, count: 100, concurrency: 10, timeoutMs: 5000 });
    expect(parseSimulationDraft(draft({ target: 'other', address: '[::1]:7001' }), listeners).params?.target).toEqual({ host: '::1', port: 7001 });
  });

  it('names what is wrong with each field', () => {
    expect(problemsOf({ count: '0' }).count).toMatch(/from 1 to 1,000,000/);
    expect(problemsOf({ count: '2.5' }).count).toBeDefined();
    // Numbers as people write them, and not what Number() would make of other things.
    for (const ok of ['1000', '1,000', '10 000', '1_000']) expect(problemsOf({ count: ok }).count).toBeUndefined();
    for (const bad of ['1,5', '0x10', '1e3', '1,0000', ' ', '12a', '1,000 000']) expect(problemsOf({ count: bad }).count).toBeDefined();
    expect(parseSimulationDraft(draft({ count: '10 000', concurrency: '1_000' }), listeners).params).toMatchObject({ count: 10_000, concurrency: 1000 });
    // The message says what is wrong with the text, then what to type.
    expect(problemsOf({ count: '1,5' }).count).toBe('"1,5": separators go between groups of three digits, as in 1,000 or 10 000. A whole number of connections, from 1 to 1,000,000.');
    expect(problemsOf({ count: '0x10' }).count).toMatch(/^"0x10" is hexadecimal: write the number in decimal digits\. A whole number/);
    expect(problemsOf({ count: '1e3' }).count).toMatch(/^"1e3" is in exponent notation: write the digits out \(1e3 is 1000\)\. A whole number/);
    expect(problemsOf({ count: '2.5' }).count).toMatch(/^"2\.5" is not a whole number\. A whole number/);
    expect(problemsOf({ count: ' ' }).count).toBe('A whole number of connections, from 1 to 1,000,000.');
    expect(problemsOf({ rate: '1e3' }).rate).toMatch(/^"1e3" is in exponent notation/);
    expect(problemsOf({ rate: '-3' }).rate).toMatch(/^"-3": write the number without a sign\. New connections per second/);
    expect(parseSimulationDraft(draft({ rate: '12.5' }), listeners).params?.rate).toBe(12.5);
    expect(parseSimulationDraft(draft({ rate: '1,000.5' }), listeners).params?.rate).toBe(1000.5);
    expect(problemsOf({ abortRatio: '0x1' }).abortRatio).toMatch(/^"0x1" is hexadecimal/);
    expect(problemsOf({ abortRatio: '0,5' }).abortRatio).toMatch(/^"0,5": a fraction takes a decimal point \(0\.5\)/);
    expect(parseSimulationDraft(draft({ abortRatio: '.25' }), listeners).params?.abortRatio).toBe(0.25);
    expect(problemsOf({ concurrency: '20000' }).concurrency).toMatch(/from 1 to 10,000/);
    expect(problemsOf({ rate: '-3' }).rate).toMatch(/above 0/);
    expect(problemsOf({ abortRatio: '1.5' }).abortRatio).toMatch(/from 0 to 1/);
    expect(problemsOf({ holdMs: 'soon' }).holdMs).toMatch(/Milliseconds/);
    expect(problemsOf({ timeoutMs: '0' }).timeoutMs).toMatch(/from 1 to 600,000/);
    expect(problemsOf({ dataMode: 'hex', data: '48 4' }).data).toMatch(/odd number/);
    expect(problemsOf({ dataMode: 'hex', data: 'zz' }).data).toMatch(/pairs of digits/);
    expect(problemsOf({ data: 'x'.repeat(65_537) }).data).toMatch(/At most 64\.0 KiB/);
    expect(problemsOf({ fastOpen: true }).fastOpen).toMatch(/give some data/);
    expect(problemsOf({ sources: '10.0.0.1' }).sources).toMatch(/Loopback source addresses/);
    expect(problemsOf({ sources: '127.0.0.9-127.0.0.2' }).sources).toBeDefined();
    expect(problemsOf({ target: 'other', address: 'example.org:7000', sources: '127.0.0.2' }).sources).toMatch(/target must be a loopback/);
    expect(problemsOf({ target: '2' }).target).toMatch(/Listener #2 is not running/);
    expect(problemsOf({ target: '' }).target).toMatch(/Pick a running listener/);
    expect(problemsOf({ target: 'other', address: '127.0.0.1' }).address).toMatch(/host:port/);
    expect(problemsOf({ target: 'other', address: '127.0.0.1:70000' }).address).toBeDefined();
  });

  it('reads hex as people paste it', () => {
    expect(Array.from(parseHex('48 45 4c'))).toEqual([0x48, 0x45, 0x4c]);
    expect(Array.from(parseHex('0x48,0x45:4C\n4c'))).toEqual([0x48, 0x45, 0x4c, 0x4c]);
  });
});

const REPORT = {
  target: { host: '127.0.0.1', port: 40_001 }, requested: 100, count: 100, started: 100, cancelled: 0, connected: 98,
  outcomes: { served: 90, refused: 0, reset: 8, eof: 0, timeout: 2, aborted: 0, open: 0, error: 0 }, errors: {},
  connectMs: { p50: 0.21, p90: 0.4, p99: 1.35, max: 2.8 }, outcomeMs: { p50: 0.52, p90: 1.1, p99: 2.95, max: 4.1 },
  bytesOut: 500, bytesIn: 450, elapsedMs: 310.2, reason: 'done',
};
const progress = (job: number, done: number, detail: Record<string, number>): HostEvent => ({ type: 'job-progress', t: 1, job, kind: 'simulate', done, total: 100, detail });

describe('simulator view', () => {
  it('checks the form before anything is sent: a message by each field that is wrong', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    renderWith(wb, <SimulatorView />);
    const form = screen.getByRole('form', { name: 'Simulation' });
    await waitFor(() => expect((within(form).getByLabelText('Target') as HTMLSelectElement).value).toBe('1'));
    fireEvent.change(within(form).getByLabelText('Connections'), { target: { value: 'many' } });
    fireEvent.change(within(form).getByLabelText('Timeout (ms)'), { target: { value: '0' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Start' }));
    const alerts = within(form).getAllByRole('alert').map((a) => a.textContent);
    expect(alerts).toEqual([
      '"many" is not a number. A whole number of connections, from 1 to 1,000,000.',
      'Milliseconds from 1 to 600,000 (10 min).',
    ]);
    expect(within(form).getByLabelText('Connections').getAttribute('aria-invalid')).toBe('true');
    expect(host.callsOf('simulate.start')).toHaveLength(0);
    // Fixed, the messages go.
    fireEvent.change(within(form).getByLabelText('Connections'), { target: { value: '100' } });
    fireEvent.change(within(form).getByLabelText('Timeout (ms)'), { target: { value: '5000' } });
    expect(within(form).queryAllByRole('alert')).toHaveLength(0);
  });

  it('Start sends the params, progress shows live, Cancel cancels, and the outcome table comes with job-done', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.handlers['simulate.start'] = () => ({ job: 7 });
      h.handlers['job.cancel'] = () => ({ cancelled: true });
    });
    renderWith(wb, <SimulatorView />);
    const form = screen.getByRole('form', { name: 'Simulation' });
    await waitFor(() => expect((within(form).getByLabelText('Target') as HTMLSelectElement).value).toBe('1'));
    fireEvent.change(within(form).getByLabelText('Data sent by each client'), { target: { value: 'hi' } });
    fireEvent.change(within(form).getByLabelText('Concurrency'), { target: { value: '20' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Start' }));
    await waitFor(() => expect(host.callsOf('simulate.start')).toHaveLength(1));
    expect(host.callsOf('simulate.start')[0]).toEqual({ target: { host: '127.0.0.1', port: 40_001 }, count: 100, concurrency: 20, timeoutMs: 5000, data: 'aGk=' });
    const run = await screen.findByTestId('sim-run');
    await waitFor(() => expect(run.getAttribute('data-state')).toBe('running'));
    expect((within(form).getByRole('button', { name: 'Running…' }) as HTMLButtonElement).disabled).toBe(true);

    act(() => host.events([progress(7, 40, { started: 60, inFlight: 20, served: 35, reset: 5 })]));
    await waitFor(() => expect(screen.getByTestId('sim-progress').textContent).toBe('40 / 100 done'));
    expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('40');
    expect(screen.getByTestId('sim-counts').textContent).toBe('started 60in flight 20served 35reset 5');

    fireEvent.click(within(run).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(host.callsOf('job.cancel')).toEqual([{ job: 7 }]));
    await waitFor(() => expect(within(run).getByRole('button', { name: 'Cancelling…' })).toBeTruthy());

    // A consistent cancelled report: 60 outcomes (54 served, 5 reset, 1 timeout) of 100.
    const cancelledReport = {
      ...REPORT, reason: 'cancelled', count: 60, cancelled: 40, started: 100, connected: 59,
      outcomes: { ...REPORT.outcomes, served: 54, reset: 5, timeout: 1 },
    };
    act(() => host.events([{ type: 'job-done', t: 2, job: 7, kind: 'simulate', outcome: 'cancelled', result: cancelledReport }]));
    await waitFor(() => expect(run.getAttribute('data-state')).toBe('cancelled'));
    const report = screen.getByTestId('sim-report');
    expect(report.textContent).toContain('60 of 100 connections had an outcome in 310 ms (cancelled); 40 were closed unfinished.');
    expect(within(report).getByTestId('outcome-served').textContent).toBe('served5490.0%bytes came back from the server');
    expect(within(report).getByTestId('outcome-reset').textContent).toMatch(/^reset58\.3%/);
    const latency = within(report).getByRole('table', { name: 'Latency percentiles' });
    expect(latency.textContent).toContain('connect0.210.401.352.80');
    expect(latency.textContent).toContain('outcome0.521.102.954.10');
    // The form is free again.
    expect((within(form).getByRole('button', { name: 'Start' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('says why when the host refuses to start, when a job fails, and when a report does not read', async () => {
    let next = 0;
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.handlers['simulate.start'] = () => {
        if (next++ === 0) throw Object.assign(new Error('simulate.start: sources: --sources: \'127.0.0.300\' is not an IPv4 address'), { code: 'invalid-params' });
        return { job: next };
      };
    });
    renderWith(wb, <SimulatorView />);
    const form = screen.getByRole('form', { name: 'Simulation' });
    await waitFor(() => expect((within(form).getByLabelText('Target') as HTMLSelectElement).value).toBe('1'));
    fireEvent.click(within(form).getByRole('button', { name: 'Start' }));
    expect((await screen.findByTestId('sim-start-error')).textContent).toMatch(/^Could not start: simulate\.start: sources: .*not an IPv4 address/);

    fireEvent.click(within(form).getByRole('button', { name: 'Start' }));
    await waitFor(() => expect(wb.store.getState().simulations.at(-1)?.job).toBe(2));
    expect(screen.queryByTestId('sim-start-error')).toBeNull();
    act(() => host.events([{ type: 'job-done', t: 3, job: 2, kind: 'simulate', outcome: 'failed', error: 'EMFILE: too many open files' }]));
    expect((await screen.findByTestId('sim-error')).textContent).toBe('The simulation failed: EMFILE: too many open files');

    fireEvent.click(within(form).getByRole('button', { name: 'Start' }));
    await waitFor(() => expect(wb.store.getState().simulations.at(-1)?.job).toBe(3));
    act(() => host.events([{ type: 'job-done', t: 4, job: 3, kind: 'simulate', outcome: 'done', result: { nonsense: true } }]));
    await waitFor(() => expect(screen.getByTestId('sim-run').textContent).toContain('The host sent a simulation report this view cannot read.'));
    // Earlier runs are listed and can be shown again.
    const history = screen.getByRole('region', { name: 'Earlier runs' });
    fireEvent.click(within(history).getByRole('button', { name: 'job 2' }));
    expect(screen.getByTestId('sim-error').textContent).toContain('EMFILE');
  });

  it('shows a simulation another client started, from its events alone', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    renderWith(wb, <SimulatorView />);
    act(() => host.events([progress(9, 10, { started: 10, inFlight: 0, served: 10 })]));
    expect((await screen.findByTestId('sim-run')).textContent).toContain('Simulation job 9 → a target set by another client');
    act(() => host.events([{ type: 'job-done', t: 2, job: 9, kind: 'simulate', outcome: 'done', result: REPORT }]));
    await waitFor(() => expect(screen.getByTestId('sim-state').textContent).toBe('done'));
    expect(screen.getByTestId('sim-run').textContent).toContain('→ 127.0.0.1:40001');
    // Other kinds of jobs (what-if, live replay) are not simulations.
    act(() => host.events([{ type: 'job-progress', t: 3, job: 10, kind: 'what-if', done: 1, total: 2 }]));
    await new Promise((r) => setTimeout(r, 50));
    expect(wb.store.getState().simulations).toHaveLength(1);
  });
});

describe('simulator against a real host', () => {
  it('runs real connections against a real listener and reads the real report', async () => {
    const r = await suite.realHost();
    const l = await r.wb.store.getState().createListener({ discipline: 'held', handler: 'echo', budgetMs: 2000 }, { source: 'export default () => "accept";', filename: 'accept.js' });
    await r.wb.store.getState().startListener(l.id);
    renderWith(r.wb, <SimulatorView />);
    const form = screen.getByRole('form', { name: 'Simulation' });
    await waitFor(() => expect((within(form).getByLabelText('Target') as HTMLSelectElement).value).toBe(String(l.id)));
    fireEvent.change(within(form).getByLabelText('Connections'), { target: { value: '25' } });
    fireEvent.change(within(form).getByLabelText('Data sent by each client'), { target: { value: 'ping' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Start' }));
    await until(() => r.wb.store.getState().simulations.at(-1)?.state === 'done', 15_000, 'the simulation to finish');
    const report = await screen.findByTestId('sim-report');
    expect(within(report).getByTestId('outcome-served').textContent).toMatch(/^served25100\.0%/);
    expect(report.textContent).toContain('25 connected; 100 B sent, 100 B received.');
  });
});
