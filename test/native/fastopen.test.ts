// Caller data that rides in a Fast Open SYN. Needs net.ipv4.tcp_fastopen=3, which the test sets
// in a private network namespace (unshare -n) so the machine's own setting is untouched: root only.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
// CI runs as root and must not skip this; elsewhere, a non-root run says why it skipped.
const mustRun = process.env.CI === 'true';
if (!isRoot && mustRun) throw new Error('the Fast Open tests need root (unshare -n) and CI must run them');
if (!isRoot) console.warn('skipping Fast Open tests: they need root to create a network namespace');

describe.skipIf(!isRoot)('Fast Open caller data (network namespace)', () => {
  it('reports data that arrived in the SYN as source "syn"', () => {
    const probe = path.join(__dirname, 'fastopen-probe.cjs');
    const script = `ip link set lo up && sysctl -qw net.ipv4.tcp_fastopen=3 && exec node '${probe}'`;
    const out = execFileSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8', timeout: 20000 });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result.error).toBeUndefined();
    expect(result.offers).toHaveLength(2);
    // Without a cookie the first connection's data comes after the handshake (peek) or not yet.
    expect(result.offers[0].source).not.toBe('syn');
    expect(result.offers[1]).toEqual({ attempt: 1, source: 'syn', data: 'tfo-1' });
  });
});
