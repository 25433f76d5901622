// The CSV export as the view and the File menu start it: the slice pages through the requests,
// this decides the format and where the text goes (save dialog or download).
import { useCallback } from 'react';
import { useWorkbench, useWorkbenchContext } from '../../context';
import type { CsvExport } from '../../store/sessions';
import { csvFileName, csvHeader, csvRow, saveCsvText } from './csv';

export const CSV_BUILDER = { header: csvHeader, row: csvRow };

export function useCsvExport(): { run: () => Promise<void>; status: CsvExport | null } {
  const { store } = useWorkbenchContext();
  const status = useWorkbench((s) => s.csvExport);
  const run = useCallback(async (): Promise<void> => {
    const s = store.getState();
    const name = csvFileName(s.session?.path ?? 'session');
    await s.exportSessionCsv(CSV_BUILDER, (text) => saveCsvText(text, name));
  }, [store]);
  return { run, status };
}
