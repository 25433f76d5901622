// The example condition scripts in examples/ compile and decide as their comments say.
import { beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSandbox, type Sandbox } from '../../electron/host/script/sandbox';
import type { ConditionRequest } from '../../electron/host/types';

let sandbox: Sandbox;
beforeAll(async () => { sandbox = await loadSandbox(); });

const EXAMPLES = path.resolve(__dirname, '../../examples');

function request(address: string, data = ''): ConditionRequest {
  return {
    id: 1, caller: { family: 'ipv4', address, port: 50000 }, callee: { family: 'ipv4', address: '127.0.0.1', port: 7000 },
    callerData: new TextEncoder().encode(data), callerDataSource: data ? 'peek' : 'none', sqos: null, gqos: null,
    attempt: 1, queue: { kernel: 0, held: 1, deferred: 0 }, listener: { id: 1, address: '127.0.0.1', port: 7000, discipline: 'winsock' },
    callbackData: 0,
  };
}

function decide(file: string, reqs: ConditionRequest[]): string[] {
  const script = sandbox.compile(fs.readFileSync(path.join(EXAMPLES, file), 'utf8'), file);
  try {
    return reqs.map((r) => {
      const res = script.run(r, { budgetMs: 50, fallback: 'reject' });
      expect(res.error).toBeUndefined();
      return res.ask ? 'ask' : res.verdict;
    });
  } finally {
    script.dispose();
  }
}

describe('examples/', () => {
  it('allow-list.js accepts listed addresses only', () => {
    expect(decide('allow-list.js', [request('127.0.0.1'), request('10.1.2.3')])).toEqual(['accept', 'reject']);
  });
  it('wait-for-data.js defers until data, then checks the greeting', () => {
    expect(decide('wait-for-data.js', [request('127.0.0.1'), request('127.0.0.1', 'HELLO there'), request('127.0.0.1', 'GET /')]))
      .toEqual(['defer', 'accept', 'reject']);
  });
  it('rate-limit.js allows 5 per caller per second', () => {
    const six = Array.from({ length: 6 }, () => request('127.0.0.2'));
    expect(decide('rate-limit.js', six)).toEqual(['accept', 'accept', 'accept', 'accept', 'accept', 'reject']);
  });
  it('ask-a-person.js asks for non-loopback callers', () => {
    expect(decide('ask-a-person.js', [request('127.0.0.1'), request('192.0.2.7')])).toEqual(['accept', 'ask']);
  });
  it('every file in examples/ is covered here', () => {
    expect(fs.readdirSync(EXAMPLES).sort()).toEqual(['allow-list.js', 'ask-a-person.js', 'rate-limit.js', 'wait-for-data.js']);
  });
});
