import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../electron/host/session/events';
import {
  SessionFormatError, parseSession, readSession, readSessionSync, streamSession, streamSessionRecords, validateSessionLine,
} from '../../electron/host/session/reader';
import { LineShapes, MAX_SHAPES, type RecordLayout } from '../../electron/host/session/shapes';
import { uintPattern } from '../../electron/host/session/validate';
import { SessionRecorder } from '../../electron/host/session/recorder';
import type { SessionEventInput } from '../../electron/host/session/recorder';
import { QOS_NOT_SPECIFIED } from '../../electron/host/types';
import type { Flowspec } from '../../electron/host/types';
import { validateSessionFile, validateSessionLineWithSchema } from '../helpers/session-schema';

const ROOT = path.resolve(__dirname, '../..');
let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aw-session-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

let fileNo = 0;
const tmpFile = (name = 'session.jsonl') => path.join(dir, `${++fileNo}`, name);
function freshFile(name?: string): string {
  const f = tmpFile(name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  return f;
}

const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');
const sockaddr4 = (port: number) => ({
  family: 'ipv4' as const, address: '127.0.0.1', port,
  raw: b64([2, 0, port >> 8, port & 0xff, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
});
const unmeasured = (): Flowspec => ({
  tokenRate: QOS_NOT_SPECIFIED, tokenBucketSize: QOS_NOT_SPECIFIED, peakBandwidth: QOS_NOT_SPECIFIED,
  latency: QOS_NOT_SPECIFIED, delayVariation: QOS_NOT_SPECIFIED, serviceType: QOS_NOT_SPECIFIED,
  maxSduSize: QOS_NOT_SPECIFIED, minimumPolicedSize: QOS_NOT_SPECIFIED, derived: {},
});

/** One of each event type (the end record comes from close()). */
function sampleEvents(): SessionEventInput[] {
  return [
    {
      type: 'listener', listener: 1, address: '127.0.0.1', port: 40123,
      options: {
        bind: '127.0.0.1', port: 0, backlog: 16, discipline: 'held', handler: 'echo', fallback: 'reject',
        budgetMs: 5, deferTimeoutMs: 10_000, reofferMs: 50, deferAcceptS: 0, fastOpen: false,
      },
    },
    {
      type: 'script', listener: 1, version: 1, hash: 'a'.repeat(64), filename: 'policy.js',
      source: 'export default function condition(req) {\n  return req.attempt > 1 ? "accept" : { ask: true };\n}\n',
    },
    {
      type: 'offer', listener: 1, id: 7, attempt: 1, caller: sockaddr4(50001), callee: sockaddr4(40123),
      callerData: '', callerDataSource: 'none', sqos: null, gqos: null, verdict: 'defer', ask: true,
      by: 'script', conditionUs: 12.5, result: 'WSATRY_AGAIN', scriptVersion: 1,
    },
    { type: 'log', listener: 1, id: 7, message: 'asked a person' },
    {
      type: 'offer', listener: 1, id: 7, attempt: 2, caller: sockaddr4(50001), callee: sockaddr4(40123),
      callerData: b64([0x47, 0x45, 0x54, 0x20]), callerDataSource: 'peek',
      sqos: {
        sending: { ...unmeasured(), maxSduSize: 65483, derived: { maxSduSize: 'tcpi_snd_mss' } },
        receiving: { ...unmeasured(), latency: 27, derived: { latency: 'tcpi_rtt' } },
        providerSpecific: '',
      },
      gqos: null, verdict: 'accept', by: 'person', conditionUs: 3, result: 'OK', scriptVersion: 1,
      calleeData: b64([1, 2, 3]), group: 0,
    },
    {
      type: 'decision', listener: 1, id: 7, caller: { address: '127.0.0.1', port: 50001 }, verdict: 'accept',
      attempts: 2, latencyUs: 1834.25, by: 'person', result: 'OK',
    },
    { type: 'handler', listener: 1, id: 7, handler: 'echo', event: 'close', bytesIn: 4, bytesOut: 4 },
    {
      type: 'offer', listener: 1, id: 8, attempt: 1, caller: sockaddr4(50002), callee: sockaddr4(40123),
      callerData: '', callerDataSource: 'none', sqos: null, gqos: null, verdict: 'invalid', by: 'script',
      conditionUs: 40, result: 'WSAEINVAL', scriptVersion: 1,
      error: { code: 'invalid-verdict', message: 'condition returned 42', line: 2, column: 10 },
    },
    { type: 'error', listener: 1, id: 8, code: 'invalid-verdict', message: 'condition returned 42', line: 2, column: 10 },
    {
      type: 'decision', listener: 1, id: 8, caller: { address: '127.0.0.1', port: 50002 }, verdict: 'error',
      attempts: 1, latencyUs: 95, by: 'script', result: 'WSAEINVAL',
    },
    { type: 'error', code: 'WSAEMFILE', message: 'too many open files' },
  ];
}

function recordSample(file: string, close = true): SessionRecorder {
  const rec = SessionRecorder.open(file, { appVersion: '0.1.0-test', backend: 'posix' });
  for (const e of sampleEvents()) rec.record(e);
  if (close) rec.close({ reason: 'stopped' });
  return rec;
}

const withoutT = (e: SessionEvent) => { const { t: _t, ...rest } = e; return rest; };
const fileLines = (file: string) => fs.readFileSync(file, 'utf8').split('\n');
function writeLines(file: string, lines: string[]) { fs.writeFileSync(file, lines.join('\n')); }

async function formatError(p: Promise<unknown>): Promise<SessionFormatError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SessionFormatError);
    return err as SessionFormatError;
  }
  throw new Error('expected a SessionFormatError');
}

describe('SessionRecorder + readSession round trip', () => {
  it('writes every event type, reads it back, and every line matches the schema', async () => {
    const file = freshFile();
    const rec = recordSample(file);
    expect(rec.error).toBeNull();
    expect(rec.closed).toBe(true);

    const check = validateSessionFile(file);
    expect(check.errors).toEqual([]);
    expect(check.ok).toBe(true);

    const s = await readSession(file);
    expect(s.warnings).toEqual([]);
    expect(s.header).toMatchObject({
      type: 'session', format: 'accept-workbench/session', version: 1, t: 0,
      platform: process.platform, arch: process.arch, backend: 'posix', appVersion: '0.1.0-test',
      nodeVersion: process.versions.node,
    });
    expect(Date.parse(s.header.startTime)).not.toBeNaN();
    const sample = sampleEvents();
    expect(s.events.slice(0, -1).map(withoutT)).toEqual(sample);
    // The end record tallies what was recorded.
    expect(s.end).toEqual(s.events.at(-1));
    expect(withoutT(s.end!)).toEqual({
      type: 'end', reason: 'stopped', offers: 3,
      counts: { accept: 1, reject: 0, expire: 0, withdraw: 0, error: 1 },
    });
    const types = new Set([s.header.type, ...s.events.map((e) => e.type)]);
    expect([...types].sort()).toEqual(['decision', 'end', 'error', 'handler', 'listener', 'log', 'offer', 'script', 'session']);

    // `type` and `t` lead each event line; t is ms since start, non-decreasing, at most µs precision.
    for (const line of fileLines(file).slice(1).filter(Boolean)) expect(line).toMatch(/^\{"type":"[a-z]+","t":/);
    let last = 0;
    for (const e of s.events) {
      expect(e.t).toBeGreaterThanOrEqual(last);
      expect(Math.abs(e.t * 1000 - Math.round(e.t * 1000))).toBeLessThan(1e-6);
      last = e.t;
    }

    // The other entry points agree.
    expect(readSessionSync(file)).toEqual(s);
    expect(parseSession(fs.readFileSync(file, 'utf8'))).toEqual(s);
  });

  it('keeps a t given by the caller and stamps one otherwise', async () => {
    const file = freshFile();
    const rec = SessionRecorder.open(file, { appVersion: 'x', backend: 'winsock' });
    rec.record({ type: 'log', listener: 1, message: 'given', t: 1.25 });
    rec.record({ type: 'log', listener: 1, message: 'stamped' });
    rec.close({ reason: 'done', counts: { accept: 9, reject: 0, expire: 0, withdraw: 0, error: 0 }, offers: 9, t: 5000 });
    const s = await readSession(file);
    expect(s.events[0].t).toBe(1.25);
    expect(s.events[1].t).toBeGreaterThan(0);
    expect(s.end).toMatchObject({ t: 5000, reason: 'done', offers: 9, counts: { accept: 9 } });
    expect(s.header.backend).toBe('winsock');
  });

  it('streams large files with progress and delivers records in order', async () => {
    const file = freshFile();
    const rec = SessionRecorder.open(file, { appVersion: 'x', backend: 'posix' });
    for (let i = 0; i < 3000; i++) rec.record({ type: 'log', listener: 1, id: i, message: `message ${i} ${'é'.repeat(i % 7)}` });
    rec.close();
    const total = fs.statSync(file).size;
    const progress: [number, number][] = [];
    const ids: number[] = [];
    let header: unknown = null;
    const r = await streamSession(file, {
      chunkSize: 4096,
      onHeader: (h) => { header = h; },
      onEvent: (e, line) => { if (e.type === 'log') { ids.push(e.id!); expect(line).toBe(e.id! + 2); } },
      onProgress: (read, of) => progress.push([read, of]),
    });
    expect(header).toEqual(r.header);
    expect(r.count).toBe(3001);
    expect(r.end?.type).toBe('end');
    expect(ids).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.at(-1)).toEqual([total, total]);
    for (let i = 1; i < progress.length; i++) expect(progress[i][0]).toBeGreaterThan(progress[i - 1][0]);
  });
});

describe('reading damaged files', () => {
  it('loads a file cut in the middle of its last line with one warning and every earlier event', async () => {
    const file = freshFile();
    recordSample(file);
    const text = fs.readFileSync(file, 'utf8');
    const lastStart = text.lastIndexOf('\n', text.length - 2) + 1;
    fs.writeFileSync(file, text.slice(0, lastStart + 25)); // inside the end record
    const lineCount = text.slice(0, lastStart).split('\n').length;

    const s = await readSession(file);
    expect(s.warnings).toEqual([`line ${lineCount} is cut short (file truncated?); ignored`]);
    expect(s.events.map(withoutT)).toEqual(sampleEvents());
    expect(s.end).toBeNull();
    expect(readSessionSync(file).warnings).toEqual(s.warnings);
  });

  it('loads a recording that stopped without closing: no end record, no warning', async () => {
    const file = freshFile();
    const rec = recordSample(file, false);
    rec.flush();
    const s = await readSession(file);
    expect(s.warnings).toEqual([]);
    expect(s.end).toBeNull();
    expect(s.events).toHaveLength(sampleEvents().length);
    rec.close();
  });

  it('tolerates CRLF line ends and blank lines between records', () => {
    const file = freshFile();
    recordSample(file);
    const lines = fileLines(file);
    lines.splice(3, 0, '', '   ');
    const s = parseSession(lines.join('\r\n'));
    expect(s.events).toHaveLength(sampleEvents().length + 1);
    expect(s.warnings).toEqual([]);
  });

  it('rejects an invalid value in the middle, naming the file, line and field', async () => {
    const file = freshFile('session.jsonl');
    const rec = SessionRecorder.open(file, { appVersion: 'x', backend: 'posix' });
    for (let i = 0; i < 8; i++) rec.record({ type: 'log', listener: 1, message: `m${i}` });
    for (const e of sampleEvents()) rec.record(e);
    rec.close();
    const lines = fileLines(file);
    const n = lines.findIndex((l) => l.includes('"type":"offer"')) + 1;
    expect(n).toBe(12);
    lines[n - 1] = lines[n - 1].replace('"verdict":"defer"', '"verdict":"maybe"');
    writeLines(file, lines);

    const err = await formatError(readSession(file));
    expect(err.message).toBe('session.jsonl:12: field "verdict": must be one of accept, reject, defer, invalid');
    expect(err.line).toBe(12);
    expect(err.field).toBe('verdict');
    expect(err.file).toBe('session.jsonl');
    expect(() => readSessionSync(file)).toThrow(err.message);
    expect(validateSessionFile(file).ok).toBe(false);
  });

  it('names nested fields with a dotted path', async () => {
    const file = freshFile('s.jsonl');
    recordSample(file);
    const lines = fileLines(file);
    const n = lines.findIndex((l) => l.includes('"type":"decision"')) + 1;
    const obj = JSON.parse(lines[n - 1]);
    obj.caller.port = 70000;
    lines[n - 1] = JSON.stringify(obj);
    writeLines(file, lines);
    const err = await formatError(readSession(file));
    expect(err.message).toBe(`s.jsonl:${n}: field "caller.port": must be an integer from 0 to 65535`);
    expect(err).toMatchObject({ line: n, field: 'caller.port' });

    const offerLine = lines.findIndex((l) => l.includes('"attempt":2')) + 1;
    const offer = JSON.parse(fileLines(file)[offerLine - 1]);
    offer.sqos.sending.tokenRate = 1000; // a value with no source
    lines[offerLine - 1] = JSON.stringify(offer);
    lines[n - 1] = fileLines(file)[n - 1].replace('70000', '50001');
    writeLines(file, lines);
    const err2 = await formatError(readSession(file));
    expect(err2).toMatchObject({ line: offerLine, field: 'sqos.sending.tokenRate' });
    expect(err2.message).toContain('QOS_NOT_SPECIFIED');
  });

  it('rejects a missing field, a line that is not JSON, and a cut line that is not the last', async () => {
    const file = freshFile();
    recordSample(file);
    const good = fileLines(file);

    const missing = [...good];
    missing[2] = missing[2].replace(/"hash":"a+",/, '');
    writeLines(file, missing);
    const e1 = await formatError(readSession(file));
    expect(e1).toMatchObject({ line: 3, field: 'hash' });
    expect(e1.message).toBe('session.jsonl:3: field "hash": missing');

    const notJson = [...good];
    notJson[5] = notJson[5].slice(0, 30);
    writeLines(file, notJson);
    const e2 = await formatError(readSession(file));
    expect(e2.line).toBe(6);
    expect(e2.field).toBeUndefined();
    expect(e2.message).toMatch(/^session\.jsonl:6: not valid JSON/);
    expect(e2.message).not.toContain('\n');

    const unknownType = [...good];
    unknownType[1] = unknownType[1].replace('"type":"listener"', '"type":"listenr"');
    writeLines(file, unknownType);
    const e3 = await formatError(readSession(file));
    expect(e3).toMatchObject({ line: 2, field: 'type' });
    expect(e3.message).toContain('must be one of session, listener, script, offer, decision, handler, log, error, end');

    const afterEnd = [...good.slice(0, -1), good[2], ''];
    writeLines(file, afterEnd);
    const e4 = await formatError(readSession(file));
    expect(e4.line).toBe(good.length);
    expect(e4.message).toContain('after the end record');

    const secondHeader = [...good];
    secondHeader[4] = good[0];
    writeLines(file, secondHeader);
    expect(await formatError(readSession(file))).toMatchObject({ line: 5, field: 'type' });
  });

  it('requires a valid header on line 1', async () => {
    const file = freshFile('h.jsonl');
    recordSample(file);
    const good = fileLines(file);
    const header = JSON.parse(good[0]);
    const withHeader = (h: unknown) => writeLines(file, [JSON.stringify(h), ...good.slice(1)]);

    withHeader({ ...header, version: 2 });
    const e1 = await formatError(readSession(file));
    expect(e1).toMatchObject({ line: 1, field: 'version' });
    expect(e1.message).toBe('h.jsonl:1: field "version": unsupported session format version 2; this build reads version 1');

    withHeader({ ...header, format: 'something/else' });
    expect((await formatError(readSession(file))).message)
      .toBe('h.jsonl:1: field "format": must be "accept-workbench/session" (not a session file?)');

    const { appVersion: _a, ...noAppVersion } = header;
    withHeader(noAppVersion);
    expect(await formatError(readSession(file))).toMatchObject({ line: 1, field: 'appVersion' });

    withHeader({ ...header, t: 3 });
    expect(await formatError(readSession(file))).toMatchObject({ line: 1, field: 't' });

    writeLines(file, good.slice(1));
    const e2 = await formatError(readSession(file));
    expect(e2).toMatchObject({ line: 1, field: 'type' });
    expect(e2.message).toContain('the first line must be the session header');

    fs.writeFileSync(file, '');
    expect((await formatError(readSession(file))).message).toBe('h.jsonl:1: the file is empty; expected the session header');

    fs.writeFileSync(file, good[0].slice(0, 40));
    expect((await formatError(readSession(file))).line).toBe(1);

    fs.writeFileSync(file, '[1,2]\n');
    expect((await formatError(readSession(file))).message).toBe('h.jsonl:1: not a JSON object');
  });
});

describe('recorder under load and failure', () => {
  it('coalesces the lines of one turn into one write, flushed on setImmediate', async () => {
    const file = freshFile();
    const rec = SessionRecorder.open(file, { appVersion: 'x', backend: 'posix' });
    const headerSize = fs.statSync(file).size;
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^\{"type":"session".*\n$/);
    for (let i = 0; i < 10; i++) rec.record({ type: 'log', listener: 1, message: `m${i}` });
    expect(fs.statSync(file).size).toBe(headerSize);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(fileLines(file).filter(Boolean)).toHaveLength(11);
    rec.record({ type: 'log', listener: 1, message: 'explicit' });
    rec.flush();
    expect(fileLines(file).filter(Boolean)).toHaveLength(12);
    rec.close();
  });

  it('records a burst of 20,000 events in one turn, all present and in order', async () => {
    const file = freshFile();
    const rec = SessionRecorder.open(file, { appVersion: 'x', backend: 'posix' });
    const base = sampleEvents()[2] as Extract<SessionEventInput, { type: 'offer' }>;
    const started = performance.now();
    for (let id = 0; id < 20_000; id++) rec.record({ ...base, id, caller: sockaddr4(1024 + (id % 60000)) });
    const recordMs = performance.now() - started;
    rec.close({ reason: 'burst' });
    expect(rec.error).toBeNull();
    expect(recordMs).toBeLessThan(5000);

    const s = await readSession(file);
    expect(s.warnings).toEqual([]);
    expect(s.events).toHaveLength(20_001);
    const offers = s.events.filter((e) => e.type === 'offer');
    expect(offers.map((e) => e.id)).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
    expect(s.end).toMatchObject({ offers: 20_000, reason: 'burst' });
    expect(validateSessionFile(file).errors).toEqual([]);
  });

  it.skipIf(process.platform !== 'linux')('survives a write error without throwing into the caller', () => {
    const file = freshFile();
    const seen: Error[] = [];
    const rec = SessionRecorder.open(file, {
      appVersion: 'x', backend: 'posix',
      onError: (err) => { seen.push(err); throw new Error('a faulty callback'); },
    });
    rec.record({ type: 'log', listener: 1, message: 'before' });
    rec.flush();
    // Pull the descriptor out from under the recorder (synchronously, so nothing can reuse it).
    const real = fs.realpathSync(file);
    const fd = fs.readdirSync('/proc/self/fd').map(Number)
      .find((n) => { try { return fs.readlinkSync(`/proc/self/fd/${n}`) === real; } catch { return false; } });
    expect(fd).toBeDefined();
    fs.closeSync(fd!);

    expect(() => {
      rec.record({ type: 'log', listener: 1, message: 'lost' });
      rec.flush();
      rec.record({ type: 'log', listener: 1, message: 'also lost' });
      rec.flush();
      rec.close({ reason: 'x' });
      rec.close();
      rec.record({ type: 'log', listener: 1, message: 'after close' });
    }).not.toThrow();
    expect((rec.error as NodeJS.ErrnoException).code).toBe('EBADF');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(rec.error);
    expect(rec.dropped).toBe(3);
    expect(rec.closed).toBe(true);
    const s = readSessionSync(file);
    expect(s.events.map((e) => e.type === 'log' && e.message)).toEqual(['before']);
  });

  it('records an event that cannot be serialised as an error instead of throwing', async () => {
    const file = freshFile();
    const rec = SessionRecorder.open(file, { appVersion: 'x', backend: 'posix' });
    const bad = { type: 'log', listener: 1, message: 'm', extra: 1n } as unknown as SessionEventInput;
    expect(() => rec.record(bad)).not.toThrow();
    rec.close();
    const s = await readSession(file);
    expect(s.events[0]).toMatchObject({ type: 'error', code: 'record' });
    expect(rec.error).toBeNull();
  });

  it.skipIf(!fs.existsSync('/dev/full'))('open() throws when even the header cannot be written', () => {
    expect(() => SessionRecorder.open('/dev/full', { appVersion: 'x', backend: 'posix' })).toThrow(/ENOSPC/);
  });
});

describe('recorder in a separate process', () => {
  let childDir: string;
  beforeAll(() => {
    // Transpile the recorder (and what it imports) so a plain Node child can load it.
    childDir = path.join(dir, 'child');
    for (const rel of ['electron/host/session/recorder.ts', 'electron/host/session/events.ts', 'electron/host/types.ts']) {
      const out = ts.transpileModule(fs.readFileSync(path.join(ROOT, rel), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      }).outputText;
      const dest = path.join(childDir, rel.replace(/\.ts$/, '.js'));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, out);
    }
  });
  const recorderModule = () => path.join(childDir, 'electron/host/session/recorder.js');

  it('flushes synchronously when the process exits normally', async () => {
    const file = freshFile();
    const code = `
      const { SessionRecorder } = require(${JSON.stringify(recorderModule())});
      const rec = SessionRecorder.open(process.argv[1], { appVersion: 'child', backend: 'posix' });
      for (let i = 0; i < 1000; i++) rec.record({ type: 'log', listener: 1, id: i, message: 'm' + i });
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['-e', code, file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const s = await readSession(file);
    expect(s.warnings).toEqual([]);
    expect(s.end).toBeNull();
    expect(s.events.map((e) => (e.type === 'log' ? e.id : -1))).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(validateSessionFile(file).errors).toEqual([]);
  });

  it('a recording killed mid-write loses at most its last line', async () => {
    const file = freshFile();
    const code = `
      const { SessionRecorder } = require(${JSON.stringify(recorderModule())});
      const rec = SessionRecorder.open(process.argv[1], { appVersion: 'child', backend: 'posix' });
      let i = 0;
      const pad = 'x'.repeat(3000);
      (function turn() {
        for (let k = 0; k < 500; k++, i++) rec.record({ type: 'log', listener: 1, id: i, message: pad });
        setImmediate(turn);
      })();`;
    const child = spawn(process.execPath, ['-e', code, file], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const deadline = Date.now() + 20_000;
    while ((!fs.existsSync(file) || fs.statSync(file).size < 8_000_000) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;

    const s = await readSession(file);
    expect(s.warnings.length).toBeLessThanOrEqual(1);
    expect(s.events.length).toBeGreaterThan(1000);
    expect(s.events.map((e) => (e.type === 'log' ? e.id : -1))).toEqual(Array.from({ length: s.events.length }, (_, i) => i));
  });
});

const WEIRD: unknown[] = [null, 'x', '', -1, 1.5, 0, 65536, 4294967296, true, {}, [], 'AAAA'];

/** Every variant of `line` with one property removed, replaced, or added (at any depth). */
function* mutations(value: unknown, at: string[] = []): Generator<[string, unknown]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const where = [...at, key].join('.');
    const { [key]: _dropped, ...rest } = obj;
    yield [`delete ${where}`, rest];
    for (const w of WEIRD) yield [`${where} = ${JSON.stringify(w)}`, { ...obj, [key]: w }];
    for (const [what, inner] of mutations(obj[key], [...at, key])) yield [what, { ...obj, [key]: inner }];
  }
  yield [`add ${[...at, 'extra'].join('.')}`, { ...obj, extra: 'x' }];
  if (at.at(-1) === 'derived') yield [`add ${at.join('.')}.latency`, { ...obj, latency: 'tcpi_rtt' }];
}

describe('the runtime checks and docs/session.schema.json agree', () => {
  it('accept and reject the same lines', () => {
    const file = freshFile();
    recordSample(file);
    const lines = fileLines(file).filter(Boolean).map((l) => JSON.parse(l) as unknown);
    const disagreements: string[] = [];
    let tried = 0;
    for (const line of lines) {
      expect(validateSessionLine(line)).toBeNull();
      expect(validateSessionLineWithSchema(line)).toBeNull();
      const type = (line as { type: string }).type;
      for (const [what, variant] of mutations(line)) {
        tried++;
        const runtime = validateSessionLine(variant);
        const schema = validateSessionLineWithSchema(variant);
        if ((runtime === null) !== (schema === null)) {
          disagreements.push(`${type}: ${what}: runtime ${runtime ? `rejects (${runtime.field}: ${runtime.message})` : 'accepts'}, schema ${schema ? `rejects (${schema})` : 'accepts'}`);
        }
      }
    }
    expect(tried).toBeGreaterThan(1000);
    expect(disagreements).toEqual([]);
  });
});

describe('docs/session-format.md', () => {
  it('has valid example lines', () => {
    const md = fs.readFileSync(path.join(ROOT, 'docs/session-format.md'), 'utf8');
    const examples = [...md.matchAll(/```json\n([\s\S]*?)```/g)]
      .map((m) => m[1].trim())
      .filter((b) => b.startsWith('{"type":'))
      .map((b) => JSON.parse(b) as { type: string });
    expect(examples.map((e) => e.type).sort())
      .toEqual(['decision', 'end', 'error', 'handler', 'listener', 'log', 'offer', 'script', 'session']);
    for (const e of examples) {
      expect(validateSessionLine(e), e.type).toBeNull();
      expect(validateSessionLineWithSchema(e), e.type).toBeNull();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Reading offers and decisions by their shape (electron/host/session/shapes.ts): a line matches a
// learned shape only when the full checks accept it, and then gives exactly the parsed values.

describe('reading records by their line shape', () => {
  const LAYOUTS: RecordLayout[] = [
    {
      type: 'offer',
      fields: ['t', 'listener', 'id', 'attempt', 'caller.family', 'caller.address', 'caller.port', 'callee.port',
        'callerData', 'verdict', 'ask', 'by', 'scriptVersion', 'group', 'error.line'],
      text: 'sqos',
    },
    { type: 'decision', fields: ['t', 'id', 'caller.address', 'caller.port', 'verdict', 'latencyUs', 'by'] },
  ];

  /** An offer as the posix backend records it on Linux: both FLOWSPECs measured in part. */
  const measuredOffer = (id: number, latency = 27) => ({
    type: 'offer', t: 10 + id / 25, listener: 1, id, attempt: 1, caller: sockaddr4(50000 + (id % 1000)), callee: sockaddr4(40123),
    callerData: b64([0x47, 0x45, 0x54, id & 0xff]), callerDataSource: 'peek',
    sqos: {
      sending: {
        ...unmeasured(), tokenRate: 4294967294, tokenBucketSize: 327680, latency, delayVariation: 3, maxSduSize: 32768,
        derived: { tokenRate: 'tcpi_pacing_rate', tokenBucketSize: 'tcpi_snd_cwnd*tcpi_snd_mss', latency: 'tcpi_rtt', delayVariation: 'tcpi_rttvar', maxSduSize: 'tcpi_snd_mss' },
      },
      receiving: { ...unmeasured(), latency, maxSduSize: 65483, derived: { latency: 'tcpi_rtt', maxSduSize: 'tcpi_advmss' } },
      providerSpecific: '',
    },
    gqos: null, verdict: 'accept', by: 'script', conditionUs: 9.5, result: 'OK', scriptVersion: 1,
  });
  const decision = (id: number) => ({
    type: 'decision', t: 10.005 + id / 25, listener: 1, id, caller: { address: '127.0.0.1', port: 50000 + (id % 1000) },
    verdict: 'accept', attempts: 1, latencyUs: 61.5, by: 'script', result: 'OK',
  });

  /** What the full parse gives for a line: null when the checks reject it, else the layout's values. */
  function parsed(line: string): { layout: number; values: unknown[] } | null {
    let v: unknown;
    try { v = JSON.parse(line); } catch { return null; }
    if (validateSessionLine(v) !== null) return null;
    const o = v as Record<string, unknown>;
    const layout = LAYOUTS.findIndex((l) => l.type === o.type);
    if (layout < 0) return null;
    const at = (path: string): unknown => path.split('.').reduce<unknown>((x, k) =>
      (typeof x === 'object' && x !== null && Object.hasOwn(x, k) ? (x as Record<string, unknown>)[k] : undefined), o);
    const l = LAYOUTS[layout]!;
    const values = l.fields.map(at);
    if (l.text) values.push(at(l.text) == null ? null : JSON.stringify(at(l.text)));
    return { layout, values };
  }

  /** Variants of a line's text: other numbers, other strings, spaces, escapes, duplicate keys... */
  function* textVariants(line: string): Generator<string> {
    const numbers = ['0', '7', '01', '1.0', '1.5', '1e2', '1E+2', '-0', '-1', '65535', '65536', '4294967295', '4294967296',
      '999999999999999', '1000000000000000', '99999999999999999999999', '1e400', '2.040', ' 5'];
    for (const m of line.matchAll(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)) {
      for (const n of numbers) yield line.slice(0, m.index) + n + line.slice(m.index! + m[0].length);
    }
    const strings = ['', 'A', 'AAAA', 'AA==', 'AAA', 'ipv6', 'peek', 'script', 'system', 'WSAEINVAL', 'tcpi_rtt', '\\u0041', 'a\\"b',
      'a\\nb', 'a\tb', 'é', '\u2028', 'latency'];
    for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
      for (const x of strings) yield `${line.slice(0, m.index! + 1)}${x}${line.slice(m.index! + m[0].length - 1)}`;
    }
    for (const m of line.matchAll(/[,:{]/g)) yield `${line.slice(0, m.index! + 1)} ${line.slice(m.index! + 1)}`;
    yield `${line} `;
    yield line.slice(0, -1);
    yield line.replace('"latency":', '"latency":5,"latency":');
    yield line.replace(',"by":', ',"ask":true,"by":');
    yield line.replace('"type":"offer"', '"type":"decision"');
  }

  it('a line matches a learned shape only if the full checks accept it, with the values they give', () => {
    const bases = [
      measuredOffer(1), decision(1),
      ...sampleEvents().filter((e) => e.type === 'offer' || e.type === 'decision').map((e) => ({ ...e, t: 12.5 })),
    ].map((e) => JSON.stringify(e));
    let matched = 0;
    let tried = 0;
    const wrong: string[] = [];
    for (const base of bases) {
      const shapes = new LineShapes(LAYOUTS);
      const full = parsed(base)!;
      expect(full).not.toBeNull();
      expect(shapes.learn(base, JSON.parse(base), full.layout)).toBe(true);
      expect(shapes.match(base)).toBe(full.layout);
      expect(shapes.values[full.layout]).toEqual(full.values);
      const variants = [
        ...textVariants(base),
        ...[...mutations(JSON.parse(base))].map(([, v]) => JSON.stringify(v)),
      ];
      for (const line of variants) {
        tried++;
        const layout = shapes.match(line);
        if (layout < 0) continue;
        matched++;
        const expected = parsed(line);
        if (!expected) wrong.push(`matched although the checks reject it: ${line}`);
        else if (expected.layout !== layout || !isDeepStrictEqual(shapes.values[layout], expected.values)) {
          wrong.push(`other values than parsed: ${line}`); // the SQOS text as JSON.stringify writes it, too
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(tried).toBeGreaterThan(5000);
    expect(matched).toBeGreaterThan(500); // and the shapes do match the valid variants
  });

  it('a FLOWSPEC value that derived does not name matches only as QOS_NOT_SPECIFIED', () => {
    const shapes = new LineShapes(LAYOUTS);
    const line = JSON.stringify(measuredOffer(1));
    shapes.learn(line, JSON.parse(line), 0);
    // receiving.tokenRate is not measured (no source in derived); sending.tokenRate is.
    const receiving = line.indexOf('"receiving":{"tokenRate":4294967295');
    expect(receiving).toBeGreaterThan(0);
    const set = (at: number, value: string) => line.slice(0, at) + line.slice(at).replace('"tokenRate":4294967295', `"tokenRate":${value}`);
    expect(shapes.match(set(receiving, '1000'))).toBe(-1);
    expect(parsed(set(receiving, '1000'))).toBeNull();
    expect(shapes.match(line.replace('"tokenRate":4294967294', '"tokenRate":1000'))).toBe(0);
  });

  it('uintPattern matches exactly the integers 0 to max as JSON.stringify writes them', () => {
    for (const max of [0, 5, 9, 10, 65535, 99999, 100000, 4294967295]) {
      const re = new RegExp(`^${uintPattern(max)}$`);
      const probes = [0, 1, 9, 10, 99, 100, max - 1, max, max + 1, Math.floor(max / 2), Math.floor(max / 10), max * 10]
        .filter((n) => n >= 0);
      for (const n of probes) expect(re.test(String(n)), `${n} against ${max}`).toBe(n <= max);
      for (const text of ['', '00', '01', '-0', '-1', '1.0', '1e2', ' 1']) expect(re.test(text), text).toBe(false);
    }
  });

  it('the shapes are learned from lines JSON.stringify writes, and kept within bounds', () => {
    const shapes = new LineShapes(LAYOUTS);
    const spaced = JSON.stringify(decision(1), null, 1).replace(/\n/g, '');
    expect(shapes.learn(spaced, JSON.parse(spaced), 1)).toBe(false);
    expect(shapes.match(spaced)).toBe(-1);
    // Each distinct set of keys is a shape of its own, up to MAX_SHAPES.
    for (let i = 0; i < MAX_SHAPES + 10; i++) {
      const line = JSON.stringify({ ...decision(i), [`extra${i}`]: i });
      shapes.learn(line, JSON.parse(line), 1);
    }
    expect(shapes.size).toBe(MAX_SHAPES);
    // A pathological value is matched in linear time (no runaway backtracking).
    const line = JSON.stringify(measuredOffer(2));
    shapes.learn(line, JSON.parse(line), 0);
    const long = line.replace(/"callerData":"[^"]*"/, `"callerData":"${'A'.repeat(400_001)}"`);
    const t0 = performance.now();
    expect(shapes.match(long)).toBe(-1);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  /** A session of measured offers and their decisions (the fast path's input), as lines. */
  function offerSession(n: number): string[] {
    const lines = [JSON.stringify({
      type: 'session', format: 'accept-workbench/session', version: 1, t: 0, startTime: '2026-01-01T00:00:00.000Z',
      platform: 'linux', arch: 'x64', backend: 'posix', appVersion: '0.1.0', nodeVersion: '20.20.2',
    })];
    const [listener] = sampleEvents();
    lines.push(JSON.stringify({ ...listener, t: 1 }));
    for (let id = 1; id <= n; id++) {
      lines.push(JSON.stringify(measuredOffer(id, 5 + (id % 40))));
      lines.push(JSON.stringify(decision(id)));
    }
    lines.push(JSON.stringify({ type: 'end', t: 10_000, reason: 'stopped', counts: { accept: n, reject: 0, expire: 0, withdraw: 0, error: 0 }, offers: n }));
    return lines;
  }

  async function readBoth(file: string) {
    const run = async (shapes: boolean) => {
      const records: unknown[] = [];
      try {
        const r = await streamSessionRecords(file, {
          layouts: LAYOUTS, shapes, chunkSize: 8192,
          onRecord: (layout, values, line) => records.push([layout, line, ...values]),
          onEvent: (e, line) => records.push([e.type, line]),
        });
        return { records, warnings: r.warnings, end: r.end, count: r.count, shaped: r.shaped, error: null };
      } catch (e) {
        expect(e).toBeInstanceOf(SessionFormatError);
        return { records, error: (e as Error).message, shaped: -1 };
      }
    };
    const fast = await run(true);
    const slow = await run(false);
    return { fast, slow };
  }

  it('streamSessionRecords gives the same records, warnings and errors with shapes as parsing every line', async () => {
    const file = freshFile('r.jsonl');
    const good = offerSession(300);
    writeLines(file, good);
    const ok = await readBoth(file);
    expect(ok.fast.error).toBeNull();
    expect(ok.fast).toEqual({ ...ok.slow, shaped: ok.fast.shaped });
    expect(ok.slow.shaped).toBe(0);
    expect(ok.fast.shaped).toBeGreaterThan(590); // all but the first offer and decision
    expect(ok.fast.records).toHaveLength(602);

    // CRLF line ends, a blank line, a cut-short last line.
    writeLines(file, [...good.slice(0, 100), '', ...good.slice(100, -1), good.at(-1)!.slice(0, 20)].map((l) => `${l}\r`));
    const damaged = await readBoth(file);
    expect(damaged.fast.warnings).toEqual([`line ${good.length + 1} is cut short (file truncated?); ignored`]);
    expect(damaged.fast).toEqual({ ...damaged.slow, shaped: damaged.fast.shaped });
    expect(damaged.fast.shaped).toBeGreaterThan(590);
  });

  it('many shapes of one type: the same records, and the shape in use is matched again', async () => {
    const file = freshFile('m.jsonl');
    const lines = offerSession(0).slice(0, 2);
    let id = 0;
    // Offers with one of 20 extra keys in turn (more shapes than a line is tried against), then
    // 300 of one shape.
    for (let i = 0; i < 200; i++) lines.push(JSON.stringify({ ...measuredOffer(++id), [`x${i % 20}`]: i }), JSON.stringify(decision(id)));
    for (let i = 0; i < 300; i++) lines.push(JSON.stringify({ ...measuredOffer(++id), x7: 'y' }), JSON.stringify(decision(id)));
    writeLines(file, lines);
    const { fast, slow } = await readBoth(file);
    expect(fast.error).toBeNull();
    expect(fast).toEqual({ ...slow, shaped: fast.shaped });
    expect(fast.shaped).toBeGreaterThan(199 + 299 + 299);
  });

  // A malformed SQOS on a line whose shape is known: the same one-line error, naming line and field.
  it.each([
    ['a FLOWSPEC value out of range', (l: string) => l.replace('"latency":27', '"latency":4294967296'),
      'field "sqos.sending.latency": must be an integer from 0 to 4294967295'],
    ['a value without a source', (l: string) => l.replace('"receiving":{"tokenRate":4294967295', '"receiving":{"tokenRate":1000'),
      'field "sqos.receiving.tokenRate": must be 4294967295 (QOS_NOT_SPECIFIED) unless "derived" names its source'],
    ['an unknown source key', (l: string) => l.replace('"derived":{"latency":"tcpi_rtt"', '"derived":{"latencyy":"tcpi_rtt"'),
      'field "sqos.receiving.derived.latencyy": unknown key; must be one of tokenRate, tokenBucketSize, peakBandwidth, latency, delayVariation, serviceType, maxSduSize, minimumPolicedSize'],
    ['a source that is no string', (l: string) => l.replace('"latency":"tcpi_rtt"', '"latency":7'),
      'field "sqos.sending.derived.latency": must be a string'],
    ['providerSpecific not base64', (l: string) => l.replace('"providerSpecific":""', '"providerSpecific":"abc"'),
      'field "sqos.providerSpecific": must be base64 (standard alphabet, padded)'],
    ['a missing FLOWSPEC field', (l: string) => l.replace('"serviceType":4294967295,', ''),
      'field "sqos.sending.serviceType": missing'],
    ['a fraction', (l: string) => l.replace('"maxSduSize":32768', '"maxSduSize":32768.5'),
      'field "sqos.sending.maxSduSize": must be an integer from 0 to 4294967295'],
    ['sqos not an object', (l: string) => l.replace(/"sqos":\{.*\},"gqos"/, '"sqos":"fast","gqos"'), 'field "sqos": must be an object'],
    ['a cut line', (l: string) => l.slice(0, 500), 'not valid JSON'],
  ])('%s', async (_what, mutate, message) => {
    const file = freshFile('q.jsonl');
    const lines = offerSession(200);
    const n = 2 * 150; // the 150th offer (0-based index of its line)
    const bad = mutate(lines[n]!.replace(/"latency":\d+/g, '"latency":27'));
    expect(bad).not.toBe(lines[n]);
    lines[n] = bad;
    writeLines(file, lines);
    const { fast, slow } = await readBoth(file);
    expect(fast.error).toContain(`q.jsonl:${n + 1}: ${message}`);
    expect(fast.error).toBe(slow.error);
    expect(fast.records).toEqual(slow.records); // everything before it was delivered, the same
    expect(fast.records).toHaveLength(n - 1);
  });
});