// The CSV export of a session's requests: one row per recorded request (RFC 4180: CRLF line ends,
// fields quoted when they hold a comma, quote or line break), and how it is saved — the desktop
// app's save dialog, or a download in a browser.
import type { RequestDetail } from '../../../../electron/protocol/schema';
import { base64ToBytes } from '../../format';

export const CSV_COLUMNS = [
  'listener', 'id', 'caller_address', 'caller_port', 'first_offer_t_ms', 'final_t_ms', 'verdict', 'by',
  'attempts', 'latency_us', 'caller_data_bytes', 'caller_data_source', 'result',
] as const;

function cell(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  // A text cell starting like a formula is opened as one by spreadsheets: keep it text.
  const text = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line (without its line end) for a recorded request. Unfinished requests have empty final fields. */
export function csvRow(r: RequestDetail): string {
  const f = r.final;
  return [
    r.listener, r.id, r.caller.address, r.caller.port, r.firstOfferT, f ? f.t : null, f ? f.verdict : null, f ? f.by : null,
    r.offers.length, f ? f.latencyUs : null, base64ToBytes(r.callerData).length, r.callerDataSource, f ? f.result : null,
  ].map(cell).join(',');
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',');
}

/** session-2025-03-04.jsonl → session-2025-03-04.csv */
export function csvFileName(sessionPath: string): string {
  const base = sessionPath.split(/[\\/]/).pop() || 'session';
  return `${base.replace(/\.jsonl?$/i, '')}.csv`;
}

/**
 * Saves the text: the desktop app's save dialog when there is one (resolves with the path, or
 * null when the person cancelled), else a browser download (resolves with the file name).
 */
export async function saveCsvText(text: string, fileName: string): Promise<string | null> {
  const save = window.workbench?.saveCsv;
  if (save) return save(text);
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = fileName;
    a.style.display = 'none';
    document.body.appendChild(a);
    a.click();
    a.remove();
  } finally {
    // The download has its own reference by now; a later revoke keeps slow browsers safe.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return fileName;
}
