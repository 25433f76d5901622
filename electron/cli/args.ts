// A small strict option parser: every option is declared, every value checked, and every
// problem is one line that names the option.

export class UsageError extends Error {}

export type OptionSpec =
  | { type: 'flag'; }
  | { type: 'string'; choices?: readonly string[] }
  | { type: 'int'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number };

export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export interface Parsed {
  options: ParsedOptions;
  positionals: string[];
}

export function parseArgs(argv: string[], spec: Record<string, OptionSpec>, maxPositionals = 0): Parsed {
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let inline: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.type === 'flag') {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value`);
      options[name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) {
      throw new UsageError(`option --${name} needs a value`);
    }
    options[name] = checkValue(name, s, value);
  }
  if (positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument '${positionals[maxPositionals]}'`);
  }
  return { options, positionals };
}

function checkValue(name: string, s: OptionSpec, value: string): string | number {
  if (s.type === 'string') {
    if (s.choices && !s.choices.includes(value)) {
      throw new UsageError(`option --${name} must be one of ${s.choices.join(', ')} (got '${value}')`);
    }
    return value;
  }
  if (s.type === 'flag') return value;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (s.type === 'int' && !Number.isInteger(n))) {
    throw new UsageError(`option --${name} needs ${s.type === 'int' ? 'a whole number' : 'a number'} (got '${value}')`);
  }
  if (s.min !== undefined && n < s.min) throw new UsageError(`option --${name} must be at least ${s.min} (got ${value})`);
  if (s.max !== undefined && n > s.max) throw new UsageError(`option --${name} must be at most ${s.max} (got ${value})`);
  return n;
}

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (127.0.0.1). */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  const m6 = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  if (m6) {
    host = m6[1];
    portText = m6[2];
  } else {
    const i = value.lastIndexOf(':');
    if (i < 0) throw new UsageError(`${what} must be HOST:PORT (got '${value}')`);
    host = value.slice(0, i) || '127.0.0.1';
    portText = value.slice(i + 1);
    if (host.includes(':')) throw new UsageError(`${what}: write IPv6 addresses in brackets, e.g. [::1]:${portText}`);
  }
  if (host === 'localhost') host = '127.0.0.1';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`${what}: port must be 0-65535 (got '${portText}')`);
  return { host, port };
}
