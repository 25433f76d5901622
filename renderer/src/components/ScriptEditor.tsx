// CodeMirror 6, bundled: JavaScript mode, completion of the condition API, Ctrl/Cmd+S to apply,
// and a compile problem shown inline (underlined at its line:column, message on hover and in the
// lint panel).
import { useEffect, useRef } from 'react';
import { EditorView, basicSetup } from 'codemirror';
import { keymap } from '@codemirror/view';
import { EditorState, Prec } from '@codemirror/state';
import { setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { javascript, javascriptLanguage } from '@codemirror/lang-javascript';
import { completeFromList } from '@codemirror/autocomplete';
import { HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { tags } from '@lezer/highlight';
import { conditionCompletions } from '../conditionApi';

export interface EditorProblem { line: number; column: number; message: string }

// What a condition script can use, from the condition API's declarations.
const API_COMPLETIONS = conditionCompletions();

// Syntax colours from CSS variables, so the editor follows the light / dark theme with the page.
const themedHighlight = HighlightStyle.define([
  { tag: [tags.keyword, tags.operatorKeyword, tags.controlKeyword, tags.moduleKeyword], color: 'var(--syn-keyword)' },
  { tag: [tags.string, tags.special(tags.string), tags.regexp], color: 'var(--syn-string)' },
  { tag: [tags.number, tags.bool, tags.null], color: 'var(--syn-number)' },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: 'var(--syn-comment)', fontStyle: 'italic' },
  { tag: [tags.function(tags.variableName), tags.function(tags.propertyName)], color: 'var(--syn-function)' },
  { tag: [tags.definition(tags.variableName), tags.constant(tags.variableName)], color: 'var(--syn-definition)' },
  { tag: tags.propertyName, color: 'var(--syn-property)' },
]);

/** A 1-based line:column as a document offset, clamped to the document. */
function offsetOf(state: EditorState, line: number, column: number): number {
  const l = state.doc.line(Math.min(Math.max(1, line), state.doc.lines));
  return Math.min(l.from + Math.max(0, column - 1), l.to);
}

interface Props {
  /** The document; replacing it (a different listener, a reload) resets the editor. */
  doc: string;
  docKey: string;
  onChange: (text: string) => void;
  onSave: () => void;
  problem: EditorProblem | null;
  label: string;
}

export function ScriptEditor({ doc, docKey, onChange, onSave, problem, label }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  // The latest callbacks, read by the editor's handlers (created once per document).
  const handlers = useRef({ onChange, onSave });
  handlers.current = { onChange, onSave };

  useEffect(() => {
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc,
        extensions: [
          basicSetup,
          javascript(),
          syntaxHighlighting(themedHighlight),
          javascriptLanguage.data.of({ autocomplete: completeFromList(API_COMPLETIONS) }),
          Prec.highest(keymap.of([{ key: 'Mod-s', preventDefault: true, run: () => { handlers.current.onSave(); return true; } }])),
          EditorView.updateListener.of((u) => { if (u.docChanged) handlers.current.onChange(u.state.doc.toString()); }),
          EditorView.contentAttributes.of({ 'aria-label': label }),
        ],
      }),
    });
    view.current = v;
    return () => { v.destroy(); view.current = null; };
    // A new document key means a new editor; `doc` changes while typing must not rebuild it.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [docKey]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const diagnostics: Diagnostic[] = [];
    if (problem) {
      const at = offsetOf(v.state, problem.line, problem.column);
      const line = v.state.doc.lineAt(at);
      // One character wide; at a line's end (where parsers often point) the one before it, as an
      // empty range would not be underlined.
      const from = at < line.to ? at : Math.max(line.from, at - 1);
      diagnostics.push({ from, to: from < line.to ? from + 1 : from, severity: 'error', message: problem.message });
    }
    v.dispatch(setDiagnostics(v.state, diagnostics));
  }, [problem, docKey]);

  return <div className="editor" ref={host} data-testid="script-editor" />;
}

/** Puts the cursor on a problem's position and focuses the editor (the "go to" link). */
export function focusEditorAt(container: HTMLElement | null, line: number, column: number): void {
  const el = container?.querySelector('.cm-editor');
  if (!el) return;
  const v = EditorView.findFromDOM(el as HTMLElement);
  if (!v) return;
  const at = offsetOf(v.state, line, column);
  v.dispatch({ selection: { anchor: at }, scrollIntoView: true });
  v.focus();
}

/**
 * Replaces the whole text (a template, an older version) as one edit, so Undo brings the previous
 * text back; the editor's change handler sees it like typing.
 */
export function replaceEditorText(container: HTMLElement | null, text: string): boolean {
  const el = container?.querySelector('.cm-editor');
  if (!el) return false;
  const v = EditorView.findFromDOM(el as HTMLElement);
  if (!v) return false;
  v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text }, selection: { anchor: 0 }, scrollIntoView: true });
  v.focus();
  return true;
}
