// Entry point of `bin/accept-workbench`.
import { inspectCommand, INSPECT_USAGE } from './inspect';
import { listenCommand, LISTEN_USAGE } from './listen';
import { liveReplayCommand, LIVE_REPLAY_USAGE } from './live-replay';
import { replayCommand, REPLAY_USAGE } from './replay';
import { serveCommand, SERVE_USAGE } from './serve';
import { simulateCommand, SIMULATE_USAGE } from './simulate';
import { APP_VERSION } from './version';

const USAGE = `accept-workbench ${APP_VERSION}: inspect conditional accepts (WSAAccept)

commands:
  listen     listen on a socket and decide each connection request with a condition script
  simulate   open client connections against a listener and report what each client saw
  replay     re-run a recorded session with another condition script (--live: against a listener)
  inspect    summarise a recorded session (--csv: one row per request)
  serve      run the host and serve the workbench UI to a browser (loopback, with an access token)

${LISTEN_USAGE}

${SIMULATE_USAGE}

${REPLAY_USAGE}

${LIVE_REPLAY_USAGE}

${INSPECT_USAGE}

${SERVE_USAGE}

Run 'accept-workbench COMMAND --help' for one command.`;

export function main(argv: string[]): void {
  const [command, ...rest] = argv;
  const run = async (): Promise<void> => {
    switch (command) {
      case 'listen':
        return listenCommand(rest);
      case 'simulate':
        return simulateCommand(rest);
      case 'replay':
        // Offline what-if re-evaluation, or a live re-drive of the recorded callers.
        return rest.includes('--live') ? liveReplayCommand(rest) : replayCommand(rest);
      case 'inspect':
        return inspectCommand(rest);
      case 'serve':
        return serveCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return;
      case '--version':
      case 'version':
        process.stdout.write(APP_VERSION + '\n');
        return;
      default:
        process.stderr.write(`accept-workbench: unknown command '${command}' (see accept-workbench --help)\n`);
        process.exit(2);
    }
  };
  run().catch((e: unknown) => {
    // An unexpected failure is still one line; set AW_DEBUG=1 for the stack.
    const err = e as Error;
    process.stderr.write(`accept-workbench: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.AW_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    process.exit(1);
  });
}
