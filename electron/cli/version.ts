import * as fs from 'node:fs';
import * as path from 'node:path';

function readVersion(): string {
  // dist/electron/cli → package root, or electron/cli when run from source.
  for (const up of ['../../..', '../..']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'accept-workbench' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}

export const APP_VERSION = readVersion();
