// The platform notes (docs/platforms.md), bundled with the renderer: the app loads nothing remote,
// and the notes must match the build. A small reader for the markdown it uses: headings,
// paragraphs, lists and tables; inline markup is shown as written.
import { useEffect, useRef, type ReactNode } from 'react';
import notes from '../../../docs/platforms.md?raw';

function render(markdown: string): ReactNode[] {
  const out: ReactNode[] = [];
  const lines = markdown.split('\n');
  let i = 0;
  let key = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.startsWith('|')) {
      const rows: string[][] = [];
      while (i < lines.length && lines[i]!.startsWith('|')) {
        const cells = lines[i]!.slice(1, lines[i]!.endsWith('|') ? -1 : undefined).split('|').map((c) => c.trim());
        if (!cells.every((c) => /^:?-+:?$/.test(c))) rows.push(cells);
        i++;
      }
      const [head, ...body] = rows;
      out.push(
        <table key={key++} className="notes-table">
          <thead><tr>{head?.map((c, j) => <th key={j}>{c}</th>)}</tr></thead>
          <tbody>{body.map((r, k) => <tr key={k}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>)}</tbody>
        </table>,
      );
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      const level = heading[1]!.length;
      out.push(level <= 1 ? <h2 key={key++}>{heading[2]}</h2> : level === 2 ? <h3 key={key++}>{heading[2]}</h3> : <h4 key={key++}>{heading[2]}</h4>);
      i++;
      continue;
    }
    if (/^\s*- /.test(line)) {
      const items: string[] = [];
      while (i < lines.length && (/^\s*- /.test(lines[i]!) || (/^\s{2,}\S/.test(lines[i]!) && items.length > 0))) {
        if (/^\s*- /.test(lines[i]!)) items.push(lines[i]!.replace(/^\s*- /, ''));
        else items[items.length - 1] += ' ' + lines[i]!.trim();
        i++;
      }
      out.push(<ul key={key++}>{items.map((t, j) => <li key={j}>{t}</li>)}</ul>);
      continue;
    }
    if (line.trim() === '') {
      i++;
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '' && !/^(#|\||\s*- )/.test(lines[i]!)) para.push(lines[i++]!);
    out.push(<p key={key++}>{para.join(' ')}</p>);
  }
  return out;
}

export function PlatformNotes({ onClose }: { onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  // The focus goes to Close while the notes are open, and back where it was when they close.
  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    closeRef.current?.focus();
    return () => before?.focus();
  }, []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => { if (e.key === 'Escape') onClose(); };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal" role="dialog" aria-modal="true" aria-label="Platform notes" onClick={(e) => e.stopPropagation()}>
        <div className="modal-head">
          <strong>Platform notes</strong>
          <button ref={closeRef} type="button" onClick={onClose}>Close</button>
        </div>
        <div className="modal-body notes">{render(notes)}</div>
      </div>
    </div>
  );
}
