// `accept-workbench serve`: the workbench UI in a browser. Starts the host in a child process
// (restarted if it crashes) and an HTTP + WebSocket server in front of it, prints the URL (with its
// access token) and runs until SIGINT / SIGTERM.
import * as path from 'node:path';
import { HostProcess, type HostProcessEvent } from '../serve/host-process';
import { ServeError, isLoopbackHost, startServer } from '../serve/server';
import { parseArgs, UsageError, type OptionSpec } from './args';
import { LineWriter, abortOnSignals, fail } from './output';

export const SERVE_USAGE = `usage: accept-workbench serve [--host 127.0.0.1] [--port 0] [--allow-remote] [--renderer DIR] [--json]`;

const SPEC: Record<string, OptionSpec> = {
  host: { type: 'string' },
  port: { type: 'int', min: 0, max: 65535 },
  'allow-remote': { type: 'flag' },
  renderer: { type: 'string' },
  json: { type: 'flag' },
  help: { type: 'flag' },
};

export async function serveCommand(argv: string[]): Promise<void> {
  let o;
  try {
    o = parseArgs(argv, SPEC).options;
    if (o.help) {
      process.stdout.write(SERVE_USAGE + '\n');
      return;
    }
  } catch (e) {
    if (e instanceof UsageError) fail(`serve: ${e.message} (see accept-workbench serve --help)`);
    throw e;
  }
  let host = o.host === undefined ? '127.0.0.1' : String(o.host);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === 'localhost') host = '127.0.0.1';
  if (host === '') fail('serve: --host needs an address');
  // Checked before anything starts, so the refusal is the only output.
  if (!isLoopbackHost(host) && o['allow-remote'] !== true) {
    fail(`serve: --host ${host} is not a loopback address; anyone who can reach it with the token could drive the host: add --allow-remote to mean it`);
  }
  const json = o.json === true;
  const out = new LineWriter();
  const notice = (text: string): void => { process.stderr.write(`accept-workbench: ${text}\n`); };
  const stopped = abortOnSignals();

  const hostProcess = new HostProcess({
    onEvent: (e: HostProcessEvent) => {
      switch (e.type) {
        case 'exited':
          notice(`${e.reason}; restarting it (its listeners are not started again; the UI offers to)`);
          if (json) out.json({ type: 'host-exited', reason: e.reason, restarting: e.restarting });
          break;
        case 'restarted':
          notice(`host restarted (pid ${e.pid})`);
          if (json) out.json({ type: 'host-restarted', hostPid: e.pid });
          break;
        case 'gave-up':
          notice(`${e.reason}; the server keeps running without a host: stop it with Ctrl-C`);
          if (json) out.json({ type: 'host-failed', reason: e.reason });
          break;
        case 'warning':
          notice(e.message);
          break;
      }
    },
  });

  let server;
  try {
    // The port first: a port in use ends here, before any host process exists.
    server = await startServer({
      connect: () => hostProcess.connect(),
      host,
      port: (o.port as number | undefined) ?? 0,
      allowRemote: o['allow-remote'] === true,
      ...(o.renderer !== undefined ? { rendererDir: path.resolve(String(o.renderer)) } : {}),
    });
  } catch (e) {
    if (e instanceof ServeError) fail(`serve: ${e.message}`, 2);
    throw e;
  }
  const web = server;

  let stopping: Promise<void> | null = null;
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      // Both at once: the server's close comes first so browsers read "the server is stopping";
      // the host closes its listeners and ends the recording before it exits.
      await Promise.all([web.close(), hostProcess.stop()]);
      if (json) out.json({ type: 'stopped', reason });
      else notice(`stopped (${reason})`);
      out.end(() => process.exit(0));
    })();
    return stopping;
  };
  // A signal that came while the server was starting counts too.
  if (stopped.aborted) void stop(String(stopped.reason));
  else stopped.addEventListener('abort', () => { void stop(String(stopped.reason)); }, { once: true });

  try {
    await hostProcess.start();
  } catch (e) {
    if (stopped.aborted) return;
    await web.close();
    fail(`serve: cannot start the host process: ${(e as Error).message}`, 1);
  }
  if (stopped.aborted) return;

  if (json) out.json({ type: 'serving', url: web.url, host: web.host, port: web.port, hostPid: hostProcess.pid });
  else out.line(`serving ${web.url}`);
  out.flush();
  if (!isLoopbackHost(host)) notice('reachable from other machines (--allow-remote): keep the URL and its token private');
}
