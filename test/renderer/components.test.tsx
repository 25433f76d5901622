// @vitest-environment jsdom
// The views in jsdom: the virtualised pending queue (10,000 rows, keyboard and mouse decisions,
// filter and sort, head-of-line), the inspector's tables, the listener form, the script panel
// (CodeMirror, inline compile problem, Ctrl+S), the decisions log filters, the status bar; and
// the whole app against a real host with a real TCP client.
import * as net from 'node:net';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { PendingQueue } from '../../renderer/src/components/PendingQueue';
import { Inspector } from '../../renderer/src/components/Inspector';
import { ListenersPanel } from '../../renderer/src/components/ListenersPanel';
import { ScriptPanel } from '../../renderer/src/components/ScriptPanel';
import { DecisionsLog } from '../../renderer/src/components/DecisionsLog';
import { LostBanner, StatusBar } from '../../renderer/src/components/StatusBar';
import { LatencyChart } from '../../renderer/src/components/LatencyChart';
import { App } from '../../renderer/src/components/App';
import { client as tcpClient } from '../helpers/net';
import {
  decisionEvent, fakeWorkbench, listenerState, pendingRequest, renderWith, requestDetail, until,
} from './helpers';
import { componentSuite } from './real-host';

const suite = componentSuite();

const rows = () => screen.queryAllByTestId('pending-row');
const grid = () => screen.getByRole('grid', { name: 'Pending requests' });

describe('pending queue', () => {
  it('keeps 10,000 waiting requests virtualised: only the rows in view are in the DOM', async () => {
    const { wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.pending = Array.from({ length: 10_000 }, (_, i) => pendingRequest(1, i + 1));
    });
    const t0 = performance.now();
    renderWith(wb, <PendingQueue />);
    const took = performance.now() - t0;
    expect(screen.getByTestId('pending-count').textContent).toBe('10000 waiting');
    expect(rows().length).toBeGreaterThan(10);
    expect(rows().length).toBeLessThan(80);
    expect(rows()[0]!.textContent).toContain('#1');
    expect(took).toBeLessThan(5000);
    // Scrolled half-way down: the rows there, and still only a window of them.
    const body = grid();
    body.scrollTop = 28 * 5000;
    fireEvent.scroll(body);
    await waitFor(() => expect(rows().some((r) => r.textContent!.startsWith('#5001'))).toBe(true));
    expect(rows().length).toBeLessThan(80);
  });

  it('arrow keys move, Shift extends, A / R decide the selection in one call', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.pending = [1, 2, 3, 4, 5].map((id) => pendingRequest(1, id));
    });
    renderWith(wb, <PendingQueue />);
    fireEvent.click(rows()[0]!);
    fireEvent.keyDown(grid(), { key: 'ArrowDown' });
    expect(wb.store.getState().cursor).toBe('1:2');
    fireEvent.keyDown(grid(), { key: 'a' });
    await waitFor(() => expect(host.callsOf('decide')).toHaveLength(1));
    expect(host.callsOf('decide')[0]).toEqual({ decisions: [{ listener: 1, requestId: 2, verdict: 'accept' }] });
    // Its decision event takes #2 out of the queue; the cursor moves on to #3. A held key (repeat)
    // and a second A while #2 is still listed would not decide it again.
    fireEvent.keyDown(grid(), { key: 'a', repeat: true });
    await waitFor(() => expect(rows()).toHaveLength(4));
    expect([...wb.store.getState().pending.keys()]).toEqual(['1:1', '1:3', '1:4', '1:5']);
    expect(wb.store.getState().cursor).toBe('1:3');
    fireEvent.keyDown(grid(), { key: 'ArrowDown', shiftKey: true });
    fireEvent.keyDown(grid(), { key: 'ArrowDown', shiftKey: true });
    fireEvent.keyDown(grid(), { key: 'R', shiftKey: true });
    await waitFor(() => expect(host.callsOf('decide')).toHaveLength(2));
    expect(host.callsOf('decide')[1]).toEqual({ decisions: [3, 4, 5].map((id) => ({ listener: 1, requestId: id, verdict: 'reject' })) });
    // Ctrl+R is the browser's: not a reject.
    fireEvent.keyDown(grid(), { key: 'r', ctrlKey: true });
    fireEvent.keyDown(grid(), { key: 'd' });
    await waitFor(() => expect(host.callsOf('decide')).toHaveLength(3));
    expect((host.callsOf('decide')[2]!.decisions as Array<{ verdict: string }>).every((d) => d.verdict === 'defer')).toBe(true);
  });

  it('ctrl-click and shift-click select several; the buttons decide them with callee data and g', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.pending = [1, 2, 3, 4, 5].map((id) => pendingRequest(1, id));
    });
    renderWith(wb, <PendingQueue />);
    fireEvent.click(rows()[0]!);
    fireEvent.click(rows()[2]!, { ctrlKey: true });
    fireEvent.click(rows()[4]!, { ctrlKey: true });
    expect(screen.getByText('3 selected')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Callee data sent with Accept'), { target: { value: 'hi' } });
    fireEvent.change(screen.getByLabelText('Group (g) with Accept'), { target: { value: '7' } });
    fireEvent.click(screen.getByRole('button', { name: 'Accept' }));
    await waitFor(() => expect(host.callsOf('decide')).toHaveLength(1));
    expect(host.callsOf('decide')[0]).toEqual({ decisions: [1, 3, 5].map((id) => ({ listener: 1, requestId: id, verdict: 'accept', calleeData: 'aGk=', group: 7 })) });
    await waitFor(() => expect(rows()).toHaveLength(2)); // #1, #3, #5 decided
    fireEvent.click(rows()[0]!);
    fireEvent.click(rows()[1]!, { shiftKey: true });
    fireEvent.click(screen.getByRole('button', { name: 'Reject' }));
    await waitFor(() => expect(host.callsOf('decide')).toHaveLength(2));
    expect((host.callsOf('decide')[1]!.decisions as Array<{ requestId: number }>).map((d) => d.requestId)).toEqual([2, 4]);
  });

  it('says which decisions failed and why', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.pending = [pendingRequest(1, 9)]; });
    host.handlers.decide = () => ({ results: [{ listener: 1, requestId: 9, ok: false, error: 'not pending (already final: withdraw)' }] });
    renderWith(wb, <PendingQueue />);
    fireEvent.click(rows()[0]!);
    fireEvent.keyDown(grid(), { key: 'a' });
    expect((await screen.findByTestId('decide-errors')).textContent).toContain('Request #9 (listener 1): not pending (already final: withdraw)');
  });

  it('filters by caller and state, and sorts by a column', async () => {
    const { wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.pending = [
        pendingRequest(1, 1, { caller: { family: 'ipv4', address: '10.0.0.1', port: 1 }, attempts: 3 }),
        pendingRequest(1, 2, { caller: { family: 'ipv4', address: '10.0.0.2', port: 2 }, attempts: 1, state: 'deferred' }),
        pendingRequest(1, 3, { caller: { family: 'ipv6', address: '::1', port: 3 }, attempts: 2 }),
      ];
    });
    renderWith(wb, <PendingQueue />);
    fireEvent.change(screen.getByLabelText('Filter by caller or request id'), { target: { value: '10.0.0' } });
    expect(rows().map((r) => r.dataset.key)).toEqual(['1:1', '1:2']);
    fireEvent.change(screen.getByLabelText('Filter by state'), { target: { value: 'deferred' } });
    expect(rows().map((r) => r.dataset.key)).toEqual(['1:2']);
    fireEvent.change(screen.getByLabelText('Filter by caller or request id'), { target: { value: '' } });
    fireEvent.change(screen.getByLabelText('Filter by state'), { target: { value: 'all' } });
    expect(screen.getByText('[::1]:3')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Attempts' }));
    expect(rows().map((r) => r.dataset.key)).toEqual(['1:2', '1:3', '1:1']);
    fireEvent.click(screen.getByRole('button', { name: /Attempts/ }));
    expect(rows().map((r) => r.dataset.key)).toEqual(['1:1', '1:3', '1:2']);
  });

  it('in the winsock discipline marks the head and says later callers wait in the kernel backlog', async () => {
    const { wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1, { queue: { kernel: 3, held: 1, deferred: 1 } }, { discipline: 'winsock' }), listenerState(2)];
      h.pending = [pendingRequest(1, 4, { firstOfferT: 50 }), pendingRequest(2, 1, { firstOfferT: 10 })];
    });
    renderWith(wb, <PendingQueue />);
    const banner = screen.getByTestId('head-of-line-1');
    expect(banner.textContent).toMatch(/request #4 from 127\.0\.0\.1:\d+ is at the head of\s+the queue/);
    expect(banner.textContent).toContain('(3 waiting there now)');
    expect(screen.queryByTestId('head-of-line-2')).toBeNull(); // held discipline: no head-of-line
    const head = rows().find((r) => r.dataset.key === '1:4')!;
    expect(within(head).getByText('HEAD')).toBeTruthy();
    expect(rows().find((r) => r.dataset.key === '2:1')!.textContent).not.toContain('HEAD');
  });
});

describe('inspector', () => {
  it('shows sockaddrs with raw bytes, caller data as hex and ASCII, FLOWSPECs with unspecified and derived fields, and every offer', async () => {
    const NS = 0xffffffff;
    const flow = (over: object) => ({
      tokenRate: NS, tokenBucketSize: NS, peakBandwidth: NS, latency: NS, delayVariation: NS, serviceType: NS, maxSduSize: NS, minimumPolicedSize: NS, derived: {}, ...over,
    });
    const { host, wb } = await fakeWorkbench();
    host.handlers['request.get'] = (p) => requestDetail(p.listener as number, p.requestId as number, {
      callerData: btoa('hello\x01'), callerDataSource: 'peek',
      sqos: { sending: flow({ latency: 27, derived: { latency: 'tcpi_rtt' } }), receiving: flow({ maxSduSize: 65483, derived: { maxSduSize: 'tcpi_advmss' } }), providerSpecific: '' },
      offers: [
        { t: 10, attempt: 1, verdict: 'defer', by: 'script', ask: true, conditionUs: 15, scriptVersion: 1 },
        { t: 900, attempt: 2, verdict: 'accept', by: 'person', ask: false, conditionUs: 0, scriptVersion: 1, calleeData: btoa('ok'), group: 5 },
      ],
      state: 'final', final: { verdict: 'accept', by: 'person', result: 'OK', latencyUs: 890_000, t: 900 },
    });
    renderWith(wb, <Inspector />);
    act(() => wb.store.getState().inspect({ listener: 1, id: 42 }));
    const insp = await screen.findByTestId('inspector');
    await within(insp).findByText('Caller (lpCallerId)');
    expect(host.callsOf('request.get')).toEqual([{ listener: 1, requestId: 42 }]);
    expect(insp.textContent).toContain('02 00 c8 22 7f 00 00 01'); // sockaddr_in: AF_INET, port 51234, 127.0.0.1
    expect(insp.textContent).toContain('AF_INET (IPv4)');
    expect(screen.getByTestId('caller-data-hex').textContent).toContain('68 65 6c 6c 6f 01');
    expect(screen.getByTestId('caller-data-hex').textContent).toContain('hello.');
    expect(screen.getByTestId('caller-data-source').textContent).toBe('6 bytes, from a peek at the first bytes (MSG_PEEK: not consumed)');
    const sending = screen.getByText('SendingFlowspec').closest('table')!;
    expect(within(sending).getByText('27 µs')).toBeTruthy();
    expect(within(sending).getByText('derived from tcpi_rtt')).toBeTruthy();
    expect(within(sending).getAllByText('not specified')).toHaveLength(7);
    const receiving = screen.getByText('ReceivingFlowspec').closest('table')!;
    expect(within(receiving).getByText('derived from tcpi_advmss')).toBeTruthy();
    expect(insp.textContent).toContain('5 (set on offer 2)');
    const offers = screen.getByText('Offers (2)').parentElement!;
    expect(within(offers).getByText('defer (ask a person)')).toBeTruthy();
    expect(within(offers).getByText('person')).toBeTruthy();
    expect(within(screen.getByTestId('final')).getByText('890.0 ms')).toBeTruthy();
  });

  it('says NULL for no QOS and explains a request the host no longer keeps', async () => {
    const { host, wb } = await fakeWorkbench();
    host.handlers['request.get'] = (p) => {
      if (p.requestId === 1) return requestDetail(1, 1);
      throw Object.assign(new Error('no request 2 on listener 1'), { code: 'not-found' });
    };
    renderWith(wb, <Inspector />);
    act(() => wb.store.getState().inspect({ listener: 1, id: 1 }));
    expect(await screen.findByText('NULL: the caller asked for no QOS (no negotiation).')).toBeTruthy();
    expect(screen.getByTestId('caller-data-source').textContent).toMatch(/^0 bytes, from none/);
    act(() => wb.store.getState().inspect({ listener: 1, id: 2 }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Request #2 is no longer kept by the host/);
  });
});

describe('listeners panel', () => {
  it('creates a listener with the options set in the form, after checking them', async () => {
    const { host, wb } = await fakeWorkbench();
    host.handlers['listener.create'] = (p) => listenerState(1, { state: 'stopped', bound: null }, p.options as object);
    renderWith(wb, <ListenersPanel />);
    fireEvent.click(screen.getByRole('button', { name: 'New listener' }));
    const form = screen.getByRole('form', { name: 'New listener' });
    expect(within(form).queryByLabelText(/SO_CONDITIONAL_ACCEPT/)).toBeNull(); // posix backend
    fireEvent.change(within(form).getByLabelText('Port'), { target: { value: '70000' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create' }));
    expect(within(form).getByText('Must be a port from 0 (any free port) to 65535.')).toBeTruthy();
    expect(host.callsOf('listener.create')).toHaveLength(0);
    fireEvent.change(within(form).getByLabelText('Port'), { target: { value: '8080' } });
    fireEvent.change(within(form).getByLabelText('Discipline'), { target: { value: 'held' } });
    fireEvent.change(within(form).getByLabelText('Handler'), { target: { value: 'close' } });
    fireEvent.change(within(form).getByLabelText('Fallback verdict'), { target: { value: 'accept' } });
    fireEvent.change(within(form).getByLabelText('Budget (ms)'), { target: { value: '50' } });
    fireEvent.change(within(form).getByLabelText('Defer timeout (ms)'), { target: { value: '1000' } });
    fireEvent.change(within(form).getByLabelText('Re-offer (ms)'), { target: { value: '10' } });
    fireEvent.change(within(form).getByLabelText('Defer-accept (s)'), { target: { value: '2' } });
    fireEvent.change(within(form).getByLabelText('Backlog'), { target: { value: '16' } });
    fireEvent.click(within(form).getByLabelText('TCP Fast Open'));
    fireEvent.change(within(form).getByLabelText('Condition script'), { target: { value: 'ask' } });
    fireEvent.click(within(form).getByLabelText('Start it now'));
    fireEvent.click(within(form).getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(host.callsOf('listener.create')).toHaveLength(1));
    const call = host.callsOf('listener.create')[0] as { options: object; script: { source: string; filename: string } };
    expect(call.options).toEqual({ port: 8080, backlog: 16, discipline: 'held', handler: 'close', fallback: 'accept', budgetMs: 50, deferTimeoutMs: 1000, reofferMs: 10, deferAcceptS: 2, fastOpen: true });
    expect(call.script.filename).toBe('ask.js');
    expect(call.script.source).toContain("return 'ask'");
    expect(host.callsOf('listener.start')).toHaveLength(0);
    expect(await screen.findByTestId('listener-1')).toBeTruthy();
  });

  it('offers SO_CONDITIONAL_ACCEPT on the winsock backend only', async () => {
    const { wb } = await fakeWorkbench(undefined, 'winsock');
    renderWith(wb, <ListenersPanel />);
    fireEvent.click(screen.getByRole('button', { name: 'New listener' }));
    expect(screen.getByLabelText(/SO_CONDITIONAL_ACCEPT/)).toBeTruthy();
  });

  it('shows live state, bound port and kernel queue depth; a start that fails says why, on the listener', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1, { queue: { kernel: 5, held: 2, deferred: 1 } }), listenerState(2, { state: 'stopped', bound: null }, { port: 8080 })];
    });
    host.handlers['listener.start'] = () => { throw Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'failed' }); };
    renderWith(wb, <ListenersPanel />);
    const one = screen.getByTestId('listener-1');
    expect(one.textContent).toContain('127.0.0.1:40001');
    expect(screen.getByTestId('listener-1-queue').textContent).toBe('kernel queue 5held 2deferred 1');
    const two = screen.getByTestId('listener-2');
    fireEvent.click(within(two).getByRole('button', { name: 'Start' }));
    expect((await within(two).findByRole('alert')).textContent).toBe('listen EADDRINUSE: address already in use 127.0.0.1:8080');
    // The listener's own state follows its events.
    act(() => host.events([{ type: 'queue', t: 1, listener: 1, kernel: 9, held: 0, deferred: 0 }]));
    await waitFor(() => expect(screen.getByTestId('listener-1-queue').textContent).toContain('kernel queue 9'));
  });
});

describe('script panel', () => {
  it('loads the running script, shows a compile problem inline at its line:column, applies with Ctrl+S', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1, { script: { version: 1, hash: 'a'.repeat(64), filename: 'a.js', t: 1000 } })];
    });
    host.handlers['script.history'] = () => [{ version: 1, hash: 'a'.repeat(64), filename: 'a.js', t: 1000, source: 'export default () => "ask";\n' }];
    let applyResult: unknown = {
      ok: false, script: null,
      problem: { code: 'syntax', message: "SyntaxError: unexpected token in expression: ';'", filename: 'a.js', line: 1, column: 22, logs: [] },
    };
    host.handlers['script.apply'] = () => applyResult;
    const { container } = renderWith(wb, <ScriptPanel />);
    await waitFor(() => expect(container.querySelector('.cm-content')?.textContent).toContain('export default () => "ask";'));
    expect(screen.getByTestId('running-version').textContent).toMatch(/^running v1 \(a\.js, applied 00:01\.000, sha256 aaaaaaaaaaaa\)$/);
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    const problem = await screen.findByTestId('compile-problem');
    expect(problem.textContent).toContain("a.js:1:22 syntax: SyntaxError: unexpected token in expression: ';'");
    await waitFor(() => expect(container.querySelector('.cm-lintRange-error')).not.toBeNull());
    expect(host.callsOf('script.apply')[0]).toEqual({ listener: 1, source: 'export default () => "ask";\n', filename: 'a.js' });

    applyResult = { ok: true, problem: null, script: { version: 2, hash: 'b'.repeat(64), filename: 'a.js', t: 2000 } };
    fireEvent.keyDown(container.querySelector('.cm-content')!, { key: 's', ctrlKey: true });
    expect(await screen.findByText('Applied as version 2.')).toBeTruthy();
    expect(screen.queryByTestId('compile-problem')).toBeNull();
    await waitFor(() => expect(container.querySelector('.cm-lintRange-error')).toBeNull());
    expect(screen.getByTestId('running-version').textContent).toMatch(/^running v2/);
  });

  it('says where a failed apply failed, and shows the script\'s runtime errors and log', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    host.handlers['script.apply'] = () => { throw Object.assign(new Error('no listener 1'), { code: 'not-found' }); };
    renderWith(wb, <ScriptPanel />);
    await screen.findByTestId('script-editor');
    expect(screen.getByTestId('running-version').textContent).toContain('no script running');
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect((await screen.findByText(/^Could not apply:/)).textContent).toBe('Could not apply: no listener 1');
    act(() => host.events([
      { type: 'error', t: 5, listener: 1, id: 3, code: 'throw', message: 'Error: boom', line: 4, column: 9 },
      { type: 'log', t: 5, listener: 1, id: 3, message: 'saw 10.0.0.1' },
    ]));
    expect((await screen.findByText(/throw: Error: boom/)).textContent).toContain('request #3: throw: Error: boom (line 4:9)');
    expect(screen.getByText(/saw 10\.0\.0\.1/)).toBeTruthy();
  });
});

describe('decisions log, status bar, latency', () => {
  it('lists decisions newest first and filters them by verdict and decider', async () => {
    const { host, wb } = await fakeWorkbench();
    renderWith(wb, <DecisionsLog />);
    act(() => host.events([
      decisionEvent(1, 1, 10, { verdict: 'accept', by: 'script' }),
      decisionEvent(1, 2, 20, { verdict: 'reject', by: 'person', result: 'WSAECONNREFUSED' }),
      decisionEvent(1, 3, 30, { verdict: 'expire', by: 'system', result: 'WSAEACCES' }),
    ]));
    await waitFor(() => expect(screen.getAllByTestId('decision-row')).toHaveLength(3));
    expect(screen.getAllByTestId('decision-row').map((r) => r.textContent!.match(/#(\d+)/)![1])).toEqual(['3', '2', '1']);
    fireEvent.change(screen.getByLabelText('Filter decisions by verdict'), { target: { value: 'reject' } });
    expect(screen.getAllByTestId('decision-row')).toHaveLength(1);
    expect(screen.getByTestId('decision-row').textContent).toContain('WSAECONNREFUSED');
    fireEvent.change(screen.getByLabelText('Filter decisions by verdict'), { target: { value: 'all' } });
    fireEvent.change(screen.getByLabelText('Filter decisions by decider'), { target: { value: 'system' } });
    expect(screen.getByTestId('decision-row').textContent).toContain('expire');
    fireEvent.click(screen.getByTestId('decision-row'));
    expect(wb.store.getState().inspected).toEqual({ listener: 1, id: 3 });
    // From the keyboard: the log takes focus, arrows move from decision to decision.
    fireEvent.change(screen.getByLabelText('Filter decisions by decider'), { target: { value: 'all' } });
    const grid = screen.getByRole('grid', { name: 'Final decisions' });
    expect(grid.tabIndex).toBe(0);
    fireEvent.keyDown(grid, { key: 'ArrowDown' });
    expect(wb.store.getState().inspected).toEqual({ listener: 1, id: 2 });
    fireEvent.keyDown(grid, { key: 'End' });
    expect(wb.store.getState().inspected).toEqual({ listener: 1, id: 1 });
    fireEvent.keyDown(grid, { key: 'ArrowUp' });
    expect(wb.store.getState().inspected).toEqual({ listener: 1, id: 2 });
  });

  it('names the backend, opens the platform notes, and says when the host is gone and came back', async () => {
    const { host, wb } = await fakeWorkbench();
    renderWith(wb, <><StatusBar /><LostBanner /></>);
    expect(screen.getByTestId('backend').textContent).toMatch(/^Backend: POSIX emulation on linux/);
    expect(screen.getByTestId('connection').textContent).toContain('Connected to the host');
    fireEvent.click(screen.getByRole('link', { name: 'platform notes' }));
    const notes = screen.getByRole('dialog', { name: 'Platform notes' });
    expect(within(notes).getByText(/^Platforms: WSAAccept on Windows/)).toBeTruthy();
    fireEvent.click(within(notes).getByRole('button', { name: 'Close' }));
    expect(screen.queryByRole('dialog')).toBeNull();

    act(() => host.status('disconnected', 'host exited (signal SIGKILL)'));
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toContain('Disconnected from the host: host exited (signal SIGKILL)'));
    const options = listenerState(1).options;
    act(() => host.status('restarted', 'new host', { listeners: [{ options: { ...options, port: 8080 }, script: { source: 'x', filename: 'p.js' } }], recording: '/tmp/r.jsonl' }));
    const banner = await screen.findByTestId('lost-banner');
    expect(banner.textContent).toContain('127.0.0.1:8080 (held, p.js)');
    expect(banner.textContent).toContain('The recording /tmp/r.jsonl ended early');
    expect((within(banner).getByRole('button', { name: 'Start it again' }) as HTMLButtonElement).disabled).toBe(true); // no host yet
    act(() => host.hello('host-2'));
    await waitFor(() => expect((within(banner).getByRole('button', { name: 'Start it again' }) as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(within(banner).getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByTestId('lost-banner')).toBeNull();
  });

  it('the latency chart reads the feed outside React state and summarises it', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    renderWith(wb, <LatencyChart width={300} />);
    expect(screen.getByTestId('latency-summary').textContent).toBe('No final decisions yet.');
    act(() => host.events([decisionEvent(1, 1, 10, { latencyUs: 100 }), decisionEvent(1, 2, 20, { latencyUs: 300 })]));
    await waitFor(() => expect(screen.getByTestId('latency-summary').textContent).toBe('2 decisions: p50 300 µs, p99 300 µs'), { timeout: 3000 });
  });
});

describe('the app against a real host', () => {
  it('a listener created on a port in use: the form closes and the new listener says why it did not start', async () => {
    const r = await suite.realHost();
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      renderWith(r.wb, <ListenersPanel />);
      fireEvent.click(screen.getByRole('button', { name: 'New listener' }));
      const form = screen.getByRole('form', { name: 'New listener' });
      fireEvent.change(within(form).getByLabelText('Port'), { target: { value: String(port) } });
      fireEvent.click(within(form).getByRole('button', { name: 'Create' }));
      const row = await screen.findByTestId('listener-1');
      await waitFor(() => expect(within(row).getByRole('alert').textContent).toMatch(/^Did not start: .*EADDRINUSE/));
      expect(screen.queryByRole('form', { name: 'New listener' })).toBeNull();
      expect(Object.keys(r.wb.store.getState().listeners)).toEqual(['1']);
    } finally {
      busy.close();
    }
  });

  it('the inspector shows a request the script defers every 5 ms, and follows its offers', async () => {
    const r = await suite.realHost();
    const s = () => r.wb.store.getState();
    const l = await s().createListener({ discipline: 'held', reofferMs: 5 }, { source: 'export default () => "defer";', filename: 'd.js' });
    const { bound } = await s().startListener(l.id);
    const c = tcpClient(bound!.port, { send: 'hi', timeoutMs: 10_000 });
    try {
      await until(() => s().pending.size === 1, 5000, 'the request pending');
      const key = [...s().pending.keys()][0]!;
      renderWith(r.wb, <Inspector />);
      act(() => s().selectRow(key, 'only', [key]));
      // Offers keep coming every few ms: the detail must still load, and then show later offers.
      const offers = () => Number(/Offers \((\d+)\)/.exec(screen.getByTestId('inspector').textContent ?? '')?.[1] ?? 0);
      await waitFor(() => expect(offers()).toBeGreaterThan(0), { timeout: 3000 });
      const first = offers();
      await waitFor(() => expect(offers()).toBeGreaterThan(first), { timeout: 3000 });
    } finally {
      c.socket.destroy();
    }
  });

  it('create a listener with the ask template, a TCP client connects, A accepts it, the log shows it', async () => {
    const r = await suite.realHost();
    renderWith(r.wb, <App />);
    fireEvent.click(screen.getByRole('button', { name: 'New listener' }));
    const form = screen.getByRole('form', { name: 'New listener' });
    fireEvent.change(within(form).getByLabelText('Discipline'), { target: { value: 'held' } });
    fireEvent.change(within(form).getByLabelText('Condition script'), { target: { value: 'ask' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create' }));
    const item = await screen.findByTestId('listener-1');
    await waitFor(() => expect(item.textContent).toContain('running'));
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(item.textContent!)![1]);
    const c = tcpClient(port, { send: 'ping', expectBytes: 4, timeoutMs: 10_000 });
    await until(() => rows().length === 1, 5000, 'the request in the queue');
    fireEvent.click(rows()[0]!);
    fireEvent.keyDown(grid(), { key: 'a' });
    expect((await c.outcome).received.toString()).toBe('ping');
    await waitFor(() => expect(screen.getAllByTestId('decision-row')).toHaveLength(1));
    expect(screen.getByTestId('decision-row').textContent).toMatch(/accept\s*person/);
    await waitFor(() => expect(screen.getByTestId('caller-data-hex').textContent).toContain('ping'));
  });
});
