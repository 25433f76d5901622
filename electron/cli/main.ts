// Entry point of `bin/accept-workbench`.
import { listenCommand, LISTEN_USAGE } from './listen';
import { APP_VERSION } from './version';

const USAGE = `accept-workbench ${APP_VERSION}: inspect conditional accepts (WSAAccept)

commands:
  listen     listen on a socket and decide each connection request with a condition script

${LISTEN_USAGE}

Run 'accept-workbench COMMAND --help' for one command.`;

export function main(argv: string[]): void {
  const [command, ...rest] = argv;
  const run = async (): Promise<void> => {
    switch (command) {
      case 'listen':
        return listenCommand(rest);
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
        process.stderr.write(`accept-workbench: unknown command '${command}'\n${USAGE}\n`);
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
