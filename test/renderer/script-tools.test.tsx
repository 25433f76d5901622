// @vitest-environment jsdom
// The script panel's tools: the starter templates (each one run in the real sandbox), starting
// from a template in the editor, the version history (view, load), a test run against the
// selected request or a sample (also against a real host's pending request), the check while
// typing, and the editor's text in the store for the what-if replay.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { ConditionRequest } from '../../electron/host/types';
import { ScriptPanel } from '../../renderer/src/components/ScriptPanel';
import { SCRIPT_TEMPLATES } from '../../renderer/src/templates';
import { conditionCompletions } from '../../renderer/src/conditionApi';
import { client as tcpClient } from '../helpers/net';
import { fakeWorkbench, listenerState, renderWith, until } from './helpers';
import { componentSuite } from './real-host';

const suite = componentSuite();

const editorText = (c: HTMLElement): string => c.querySelector('.cm-content')?.textContent ?? '';

function request(address: string, data = '', attempt = 1): ConditionRequest {
  return {
    id: 1, caller: { family: 'ipv4', address, port: 50000 }, callee: { family: 'ipv4', address: '127.0.0.1', port: 7000 },
    callerData: withData(data), callerDataSource: data ? 'peek' : 'none', sqos: null, gqos: null,
    attempt, queue: { kernel: 0, held: 1, deferred: 0 }, listener: { id: 1, address: '127.0.0.1', port: 7000, discipline: 'held' },
    callbackData: 0,
  };
}

/**
 * Caller data the sandbox takes for bytes: under jsdom its `instanceof Uint8Array` check means
 * jsdom's Uint8Array, which Node's Buffer and TextEncoder output are not.
 */
function withData(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text));
}

function run(id: string, reqs: ConditionRequest[]): Array<{ verdict: string; logs: string[] }> {
  const t = SCRIPT_TEMPLATES.find((x) => x.id === id)!;
  const script = suite.sandbox.compile(t.source!, t.filename);
  try {
    return reqs.map((r) => {
      const res = script.run(r, { budgetMs: 50, fallback: 'reject' });
      expect(res.error).toBeUndefined();
      return { verdict: res.ask ? 'ask' : res.verdict, logs: res.logs };
    });
  } finally {
    script.dispose();
  }
}

describe('starter templates', () => {
  it('are the ones the product offers, and "none" says the host accepts', () => {
    expect(SCRIPT_TEMPLATES.map((t) => t.id)).toEqual(['none', 'accept', 'allow-list', 'rate-limit', 'wait-for-data', 'ask']);
    const none = SCRIPT_TEMPLATES[0]!;
    expect(none.source).toBeNull();
    expect(none.label).toBe('None (the host accepts every request)');
    expect(none.hint).toMatch(/^Without a script the host accepts every request \(CF_ACCEPT\)/);
    for (const t of SCRIPT_TEMPLATES.slice(1)) expect(t.filename).toBe(`${t.id}.js`);
  });

  it('each one compiles and decides as its hint says', () => {
    expect(run('accept', [request('10.0.0.1')]).map((r) => r.verdict)).toEqual(['accept']);
    expect(run('allow-list', [request('127.0.0.1'), request('10.0.0.1'), request('::1')]).map((r) => r.verdict)).toEqual(['accept', 'reject', 'accept']);
    const limited = run('rate-limit', [...Array.from({ length: 6 }, () => request('10.0.0.7')), request('10.0.0.8')]);
    expect(limited.map((r) => r.verdict)).toEqual(['accept', 'accept', 'accept', 'accept', 'accept', 'reject', 'accept']);
    expect(limited[5]!.logs).toEqual(['rate limit: 10.0.0.7 made 6 requests this second']);
    expect(run('wait-for-data', [request('10.0.0.1'), request('10.0.0.1', 'HELLO there', 2), request('10.0.0.1', 'GET /', 2)]).map((r) => r.verdict))
      .toEqual(['defer', 'accept', 'reject']);
    expect(run('ask', [request('10.0.0.1')]).map((r) => r.verdict)).toEqual(['ask']);
  });
});

describe('script panel tools', () => {
  it('says that without a script the host accepts; starts from a template; the editor\'s text is in the store', async () => {
    const { wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    const { container } = renderWith(wb, <ScriptPanel />);
    await screen.findByTestId('script-editor');
    expect(screen.getByTestId('running-version').textContent).toBe('no script running: the host accepts every request (built-in condition)');
    const start = screen.getByLabelText('Start from a template') as HTMLSelectElement;
    expect([...start.options].map((o) => o.value)).toEqual(['', 'accept', 'allow-list', 'rate-limit', 'wait-for-data', 'ask']);
    fireEvent.change(start, { target: { value: 'rate-limit' } });
    await waitFor(() => expect(editorText(container)).toContain('const LIMIT = 5;'));
    expect((screen.getByLabelText('Script file name') as HTMLInputElement).value).toBe('rate-limit.js');
    expect(screen.getByText('edited, not applied')).toBeTruthy();
    const editor = wb.store.getState().editorScript!;
    expect(editor).toMatchObject({ listener: 1, filename: 'rate-limit.js' });
    expect(editor.source).toBe(SCRIPT_TEMPLATES.find((t) => t.id === 'rate-limit')!.source);
    expect(wb.store.getState().scriptDrafts[1]?.filename).toBe('rate-limit.js');
  });

  it('lists the versions newest first; one can be viewed and loaded into the editor', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1, { script: { version: 2, hash: 'b'.repeat(64), filename: 'two.js', t: 2000 } })];
    });
    host.handlers['script.history'] = () => [
      { version: 1, hash: 'a'.repeat(64), filename: 'one.js', t: 1000, source: 'export default () => "reject"; // one\n' },
      { version: 2, hash: 'b'.repeat(64), filename: 'two.js', t: 2000, source: 'export default () => "accept"; // two\n' },
    ];
    const { container } = renderWith(wb, <ScriptPanel />);
    await waitFor(() => expect(editorText(container)).toContain('// two'));
    const history = screen.getByTestId('script-history');
    const rows = within(history).getAllByTestId('script-version');
    expect(rows.map((r) => r.textContent)).toEqual([
      `v2runningtwo.js00:02.000${'b'.repeat(12)}ViewLoad`,
      `v1one.js00:01.000${'a'.repeat(12)}ViewLoad`,
    ]);
    fireEvent.click(within(rows[1]!).getByRole('button', { name: 'View' }));
    expect(within(history).getByLabelText('Source of version 1').textContent).toBe('export default () => "reject"; // one\n');
    fireEvent.click(within(rows[1]!).getByRole('button', { name: 'Load' }));
    await waitFor(() => expect(editorText(container)).toContain('// one'));
    expect((screen.getByLabelText('Script file name') as HTMLInputElement).value).toBe('one.js');
    expect(wb.store.getState().editorScript?.source).toBe('export default () => "reject"; // one\n');

    // A new version applied: the list grows.
    host.handlers['script.history'] = () => [
      { version: 1, hash: 'a'.repeat(64), filename: 'one.js', t: 1000, source: 'x' },
      { version: 2, hash: 'b'.repeat(64), filename: 'two.js', t: 2000, source: 'y' },
      { version: 3, hash: 'c'.repeat(64), filename: 'one.js', t: 3000, source: 'z' },
    ];
    act(() => host.events([{ type: 'script', t: 3000, listener: 1, script: { version: 3, hash: 'c'.repeat(64), filename: 'one.js', t: 3000 } }]));
    await waitFor(() => expect(within(history).getAllByTestId('script-version')).toHaveLength(3));
    expect(within(history).getAllByTestId('script-version')[0]!.textContent).toMatch(/^v3running/);
  });

  it('test-runs the editor\'s text against the selected request, or a sample; shows verdict, decider, logs, error position, time', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1, { bound: { address: '127.0.0.1', port: 40001 } }, { callbackData: 77 })];
    });
    const runs: unknown[] = [
      { ok: true, problem: null, run: { verdict: 'reject', by: 'fallback', ask: false, logs: ['saw 127.0.0.1', 'about to throw'], conditionUs: 41.5, error: { code: 'throw', message: 'Error: boom', line: 3, column: 9 } } },
      { ok: true, problem: null, run: { verdict: 'accept', by: 'script', ask: false, logs: [], conditionUs: 8, calleeData: btoa('welcome'), group: 2 } },
      { ok: false, problem: { code: 'syntax', message: 'SyntaxError: unexpected token', filename: 'condition.js', line: 2, column: 4, logs: [] }, run: null },
    ];
    host.handlers['script.testRun'] = () => runs.shift();
    renderWith(wb, <ScriptPanel />);
    await screen.findByTestId('script-editor');
    const form = screen.getByRole('form', { name: 'Test run' });
    expect(screen.getByTestId('test-target').textContent).toMatch(/^No request is selected/);
    expect((within(form).getByRole('button', { name: 'Run test' }) as HTMLButtonElement).disabled).toBe(true);

    // The request selected in the queue (or the decisions log).
    act(() => wb.store.getState().inspect({ listener: 1, id: 7 }));
    expect(screen.getByTestId('test-target').textContent).toBe('Request #7 of listener #1, as the condition function saw it.');
    fireEvent.click(within(form).getByRole('button', { name: 'Run test' }));
    const result = await screen.findByTestId('test-result');
    const source = wb.store.getState().editorScript!.source;
    expect(host.callsOf('script.testRun')[0]).toEqual({ source, filename: 'condition.js', listener: 1, request: { requestId: 7 } });
    expect(screen.getByTestId('test-verdict').textContent).toBe('reject');
    expect(result.textContent).toContain("fallback (the script failed; the listener's fallback verdict)");
    expect(result.textContent).toContain('Condition time42 µs');
    expect(screen.getByTestId('test-error').textContent).toBe('line 3:9 throw: Error: boom');
    expect(screen.getByTestId('test-logs').textContent).toBe('saw 127.0.0.1\nabout to throw');

    // A sample request made up here.
    fireEvent.click(within(form).getByLabelText('sample request'));
    fireEvent.change(within(form).getByLabelText('Sample caller address'), { target: { value: '2001:db8::7' } });
    fireEvent.change(within(form).getByLabelText('Sample caller port'), { target: { value: '4242' } });
    fireEvent.change(within(form).getByLabelText('Sample offer number'), { target: { value: '2' } });
    fireEvent.change(within(form).getByLabelText('Sample caller data'), { target: { value: 'HELLO' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Run test' }));
    await waitFor(() => expect(screen.getByTestId('test-verdict').textContent).toBe('accept'));
    expect(host.callsOf('script.testRun')[1]).toEqual({
      source, filename: 'condition.js', listener: 1,
      request: {
        sample: {
          caller: { family: 'ipv6', address: '2001:db8::7', port: 4242 }, callee: { family: 'ipv4', address: '127.0.0.1', port: 40001 },
          callerData: btoa('HELLO'), callerDataSource: 'peek', sqos: null, attempt: 2, queue: { kernel: null, held: 1, deferred: 1 }, callbackData: 77,
        },
      },
    });
    expect(screen.getByTestId('test-result').textContent).toMatch(/Callee datawelcome \(7 B\)/);
    expect(screen.getByTestId('test-result').textContent).toMatch(/g2/);
    fireEvent.change(within(form).getByLabelText('Sample caller port'), { target: { value: '70000' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Run test' }));
    expect((await screen.findByText(/^The sample needs/)).textContent).toContain('a port from 0 to 65535');
    fireEvent.change(within(form).getByLabelText('Sample caller port'), { target: { value: '1' } });
    // A script that does not compile: where, and why.
    fireEvent.click(within(form).getByRole('button', { name: 'Run test' }));
    expect((await screen.findByTestId('test-problem')).textContent).toBe('condition.js:2:4 syntax: SyntaxError: unexpected token');
  });

  it('checks the text while typing (debounced script.validate) and underlines the problem', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    host.handlers['script.validate'] = (p) => (String(p.source).includes('LIMIT')
      ? { ok: false, problem: { code: 'syntax', message: 'SyntaxError: unexpected token', filename: 'rate-limit.js', line: 4, column: 7, logs: [] } }
      : { ok: true, problem: null });
    const { container } = renderWith(wb, <ScriptPanel />);
    await screen.findByTestId('script-editor');
    await waitFor(() => expect(host.callsOf('script.validate').length).toBeGreaterThan(0));
    expect(screen.queryByTestId('check-problem')).toBeNull();
    fireEvent.change(screen.getByLabelText('Start from a template'), { target: { value: 'rate-limit' } });
    const problem = await screen.findByTestId('check-problem');
    expect(problem.textContent).toBe('rate-limit.js:4:7 syntax: SyntaxError: unexpected token');
    await waitFor(() => expect(container.querySelector('.cm-lintRange-error')).not.toBeNull());
    expect(host.callsOf('script.validate').at(-1)).toMatchObject({ filename: 'rate-limit.js' });
    fireEvent.change(screen.getByLabelText('Start from a template'), { target: { value: 'accept' } });
    await waitFor(() => expect(screen.queryByTestId('check-problem')).toBeNull());
    await waitFor(() => expect(container.querySelector('.cm-lintRange-error')).toBeNull());
  });

  it('against a real host: a test run of the selected pending request', async () => {
    const r = await suite.realHost();
    const s = () => r.wb.store.getState();
    const l = await s().createListener({ discipline: 'held', reofferMs: 1000 }, { source: 'export default () => "ask";', filename: 'ask.js' });
    const bound = await s().startListener(l.id);
    const c = tcpClient(bound.bound!.port, { timeoutMs: 10_000 });
    await until(() => s().pending.size === 1, 5000, 'the request pending');
    const key = [...s().pending.keys()][0]!;
    act(() => s().selectRow(key, 'only', [key]));
    const { container } = renderWith(r.wb, <ScriptPanel />);
    await waitFor(() => expect(editorText(container)).toContain('"ask"'));
    fireEvent.change(screen.getByLabelText('Start from a template'), { target: { value: 'allow-list' } });
    await waitFor(() => expect(s().editorScript?.filename).toBe('allow-list.js'));
    fireEvent.click(within(screen.getByRole('form', { name: 'Test run' })).getByRole('button', { name: 'Run test' }));
    await waitFor(() => expect(screen.getByTestId('test-verdict').textContent).toBe('accept'));
    expect(screen.getByTestId('test-result').textContent).toContain(`request #${key.split(':')[1]} of listener #${l.id}`);
    // Nothing was applied: the request still waits for a person.
    expect(s().pending.get(key)?.state).toBe('awaiting-person');
    expect(s().listeners[l.id]!.script?.filename).toBe('ask.js');
    c.socket.destroy();
  });
});

describe('editor completion', () => {
  it('is read from the condition API declarations: every member of the request, context and verdict object', () => {
    const labels = conditionCompletions().map((c) => c.label);
    const dts = fs.readFileSync(path.join(__dirname, '../../electron/host/script/condition-api.d.ts'), 'utf8');
    // Each readonly member of Condition.Request is offered as req.<name>.
    const request = /interface Request \{([\s\S]*?)\n {2}\}/.exec(dts)![1]!;
    const members = [...request.matchAll(/readonly (\w+)/g)].map((m) => `req.${m[1]}`);
    expect(members.length).toBeGreaterThan(8);
    for (const m of members) expect(labels).toContain(m);
    for (const l of ['req.listener.port', 'req.sqos.sending.tokenRate', 'req.queue.kernel', 'ctx.log', 'ctx.state', 'verdict', 'calleeData', 'group', 'CF_DEFER', "'ask'", 'TextDecoder']) {
      expect(labels).toContain(l);
    }
    // A member added to the declarations is offered with no other change.
    const more = dts.replace('    readonly callbackData: number;', '    readonly callbackData: number;\n    readonly extra: number;');
    expect(conditionCompletions(more).map((c) => c.label)).toContain('req.extra');
  });
});

