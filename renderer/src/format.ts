// Formatting shared by the views: bytes, hex dumps, addresses, durations.

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function utf8ToBase64(text: string): string {
  return bytesToBase64(new TextEncoder().encode(text));
}

export function hex(bytes: Uint8Array, sep = ' '): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(sep);
}

/** Printable ASCII as itself, everything else as '.'. */
export function ascii(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
}

export interface HexLine { offset: string; hex: string; ascii: string }

/** `perLine` bytes a line: offset, hex, ASCII. */
export function hexDump(bytes: Uint8Array, maxBytes = 4096, perLine = 16): HexLine[] {
  const lines: HexLine[] = [];
  const n = Math.min(bytes.length, maxBytes);
  for (let i = 0; i < n; i += perLine) {
    const chunk = bytes.subarray(i, Math.min(i + perLine, n));
    lines.push({ offset: i.toString(16).padStart(4, '0'), hex: hex(chunk).padEnd(perLine * 3 - 1, ' '), ascii: ascii(chunk) });
  }
  return lines;
}

export function endpoint(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** A duration given in ms, short: "850 ms", "12.3 s", "4 min 05 s". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  if (m < 60) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Microseconds, short: "27 µs", "3.4 ms", "1.20 s". */
export function micros(us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

export function byteCount(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Host time (ms since the host started) as a clock-like "mm:ss.mmm" or "h:mm:ss". */
export function hostTime(ms: number): string {
  const total = Math.max(0, Math.floor(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const frac = String(total % 1000).padStart(3, '0');
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${frac}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** QOS_NOT_SPECIFIED: a FLOWSPEC field nobody measured. */
export const QOS_NOT_SPECIFIED = 0xffffffff;
