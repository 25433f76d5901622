// What the app remembers between runs: the window's size and place, and recently opened sessions.
// A small JSON file in the user-data folder; a missing or damaged file means defaults, never a
// failed start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

export const MAX_RECENT_SESSIONS = 10;

const SettingsSchema = z.object({
  window: z.object({
    width: z.number().int().min(400).max(20_000),
    height: z.number().int().min(300).max(20_000),
    x: z.number().int().optional(),
    y: z.number().int().optional(),
    maximized: z.boolean().optional(),
  }),
  recentSessions: z.array(z.string().min(1).max(4096)).max(MAX_RECENT_SESSIONS),
});
export type Settings = z.infer<typeof SettingsSchema>;

export const DEFAULT_SETTINGS: Settings = { window: { width: 1400, height: 900 }, recentSessions: [] };

export class SettingsStore {
  private current: Settings;

  constructor(readonly file: string) {
    this.current = SettingsStore.read(file);
  }

  get settings(): Settings { return structuredClone(this.current); }

  private static read(file: string): Settings {
    try {
      const parsed = SettingsSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
      return parsed.success ? parsed.data : structuredClone(DEFAULT_SETTINGS);
    } catch {
      return structuredClone(DEFAULT_SETTINGS);
    }
  }

  rememberWindow(bounds: Settings['window']): void {
    const parsed = SettingsSchema.shape.window.safeParse({
      ...bounds, width: Math.round(bounds.width), height: Math.round(bounds.height),
    });
    if (!parsed.success) return;
    this.current.window = parsed.data;
    this.save();
  }

  /** Moves `file` to the front of the recent sessions. */
  addRecentSession(file: string): string[] {
    const list = [file, ...this.current.recentSessions.filter((f) => f !== file)].slice(0, MAX_RECENT_SESSIONS);
    this.current.recentSessions = list;
    this.save();
    return [...list];
  }

  clearRecentSessions(): void {
    this.current.recentSessions = [];
    this.save();
  }

  /**
   * Written to a temporary file, flushed to disk, then renamed over the old one: a crash or a power
   * cut mid-write keeps the old settings or the new ones, never a half-written file.
   */
  private save(): void {
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, JSON.stringify(this.current, null, 2) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch {
      // Settings are a convenience: failing to save them must not disturb the app.
    }
  }
}
