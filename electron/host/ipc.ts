// The messages between the host process (electron/host/main.ts) and the process that supervises it
// (electron/serve/host-process.ts) over a Node IPC channel. Several UI connections share the one
// channel; `conn` names the connection. Protocol messages ride inside `msg` unchanged.
import { z } from 'zod';
import { LostStateSchema, type LostState } from '../protocol/schema';

/** Supervisor → host. */
export type ParentToHost =
  | { conn: number; open: true }
  | { conn: number; msg: unknown }
  | { conn: number; close: true };

/** Host → supervisor. */
export type HostToParent =
  | { conn: number; msg: unknown }
  /** The host closed its side of a connection (not done today; handled for symmetry). */
  | { conn: number; close: true }
  /** QuickJS is loaded: connections can be opened. */
  | { ready: true }
  /** What a crash would lose, sent whenever it changes. */
  | { lost: LostState };

const conn = z.number().int().min(1);

// The supervisor checks the envelope; the protocol message inside is checked separately.
export const HostToParentSchema = z.union([
  z.object({ conn, msg: z.unknown() }).strict(),
  z.object({ conn, close: z.literal(true) }).strict(),
  z.object({ ready: z.literal(true) }).strict(),
  z.object({ lost: LostStateSchema }).strict(),
]);

export const ParentToHostSchema = z.union([
  z.object({ conn, open: z.literal(true) }).strict(),
  z.object({ conn, msg: z.unknown() }).strict(),
  z.object({ conn, close: z.literal(true) }).strict(),
]);
