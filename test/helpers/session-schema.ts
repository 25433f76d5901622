// Validates session files against docs/session.schema.json with ajv (a dev dependency: tests only;
// the product's reader has its own checks that mirror the schema).
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv';

export const SESSION_SCHEMA_PATH = path.resolve(__dirname, '../../docs/session.schema.json');

let compiled: { root: ValidateFunction; byType: Map<string, ValidateFunction> } | null = null;

function validators() {
  if (compiled) return compiled;
  const schema = JSON.parse(fs.readFileSync(SESSION_SCHEMA_PATH, 'utf8')) as {
    $id: string; $defs: Record<string, unknown>;
  };
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const root = ajv.compile(schema);
  // Per-type validators give readable errors (oneOf alone reports every branch's failures).
  const byType = new Map<string, ValidateFunction>();
  const names: Record<string, string> = { session: 'header' };
  for (const t of ['session', 'listener', 'script', 'offer', 'decision', 'handler', 'log', 'error', 'end']) {
    const v = ajv.getSchema(`${schema.$id}#/$defs/${names[t] ?? t}`);
    if (!v) throw new Error(`session schema has no $defs/${names[t] ?? t}`);
    byType.set(t, v);
  }
  compiled = { root, byType };
  return compiled;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim()).join('; ');
}

/** Validates one parsed line; returns null when valid, else a one-line description. */
export function validateSessionLineWithSchema(value: unknown): string | null {
  const { root, byType } = validators();
  if (root(value)) return null;
  const type = (value as { type?: unknown } | null)?.type;
  const specific = typeof type === 'string' ? byType.get(type) : undefined;
  if (specific && !specific(value)) return describe(specific.errors);
  return describe(root.errors);
}

/**
 * Validates every line of a session file against the schema, plus the file-level rules the schema
 * cannot express: line 1 is the header and no other line is; nothing follows the end record.
 * A cut-short last line (no trailing newline, not JSON) is an error here: recorded files must be whole.
 */
export function validateSessionFile(file: string): { ok: boolean; errors: string[] } {
  const text = fs.readFileSync(file, 'utf8');
  const errors: string[] = [];
  if (!text.endsWith('\n')) errors.push('the file does not end with a newline');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) errors.push('the file is empty');
  let endLine = 0;
  lines.forEach((line, i) => {
    const n = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      errors.push(`line ${n}: not valid JSON`);
      return;
    }
    const problem = validateSessionLineWithSchema(value);
    if (problem) errors.push(`line ${n}: ${problem}`);
    const type = (value as { type?: unknown } | null)?.type;
    if (n === 1 && type !== 'session') errors.push('line 1: not a session header');
    if (n > 1 && type === 'session') errors.push(`line ${n}: a second session header`);
    if (endLine) errors.push(`line ${n}: follows the end record on line ${endLine}`);
    if (type === 'end' && !endLine) endLine = n;
  });
  return { ok: errors.length === 0, errors };
}
