// A scratch directory per test file: made when the file loads, removed after its tests.
import { afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function scratchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

/** Writes `text` to `name` in `dir` and returns the file's path. */
export function writeIn(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}
