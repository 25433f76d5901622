// Runs bin/accept-workbench as a user would: a child process, stdout read line by line.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

export const BIN = path.resolve(__dirname, '../../bin/accept-workbench');

export interface Running {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  stderr: () => string;
  /** Resolves with the first stdout line for which `match` is true. */
  waitLine: (match: (line: string) => boolean, timeoutMs?: number) => Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcessWithoutNullStreams>();

/** Kills every CLI process a test started and did not see exit (call from afterEach). */
export function killStrayClis(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

export function startCli(args: string[], opts: { cwd?: string } = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, stdio: 'pipe' });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => { err += c; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const waitLine = (match: (l: string) => boolean, timeoutMs = 10_000): Promise<string> => {
    const found = lines.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching line within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${err}`)), timeoutMs);
      waiters.push({ match, resolve: (l) => { clearTimeout(t); resolve(l); } });
    });
  };
  return { child, lines, stderr: () => err, waitLine, exited };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = startCli(args);
  const t = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  const { code } = await r.exited;
  clearTimeout(t);
  return { code, stdout: r.lines.join('\n'), stderr: r.stderr() };
}

export function jsonLines(lines: string[]): Array<Record<string, unknown>> {
  return lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}
