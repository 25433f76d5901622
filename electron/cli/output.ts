// Output for the CLI: lines gathered during one event-loop turn go out in one write, so a burst of
// decisions costs one system call, not thousands.

export class LineWriter {
  private lines: string[] = [];
  private scheduled = false;

  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {}

  line(text: string): void {
    this.lines.push(text);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  json(value: unknown): void {
    this.line(JSON.stringify(value));
  }

  flush(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    this.stream.write(text);
  }

  /** Flushes and calls back once the stream has taken everything. */
  end(done: () => void): void {
    this.scheduled = false;
    const text = this.lines.length ? this.lines.join('\n') + '\n' : '';
    this.lines = [];
    if (text) this.stream.write(text, () => done());
    else done();
  }
}

/** Prints a one-line error (no stack trace) and exits with `code`. */
export function fail(message: string, code = 2): never {
  process.stderr.write(`accept-workbench: ${message}\n`);
  process.exit(code);
}

/**
 * For long commands: SIGINT / SIGTERM abort the returned signal (the command then prints what it
 * has so far); a second signal exits at once with 130.
 */
export function abortOnSignals(): AbortSignal {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) process.exit(130);
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
