// The completion list of the script editor, read from the condition API's declarations
// (electron/host/script/condition-api.d.ts, bundled as text) so the two cannot drift apart: every
// member of Condition.Request reachable from `req`, of Condition.Context from `ctx`, the keys of a
// verdict object, the CF_* constants and the verdict names.
import type { Completion } from '@codemirror/autocomplete';
import declarations from '../../electron/host/script/condition-api.d.ts?raw';

interface Member { name: string; type: string; doc: string | null; method: boolean }

/** The first sentence of a doc comment, without its markers. */
function docText(comment: string | undefined): string | null {
  if (!comment) return null;
  const text = comment.replace(/^\/\*\*|\*\/$/g, '').replace(/^\s*\* ?/gm, '').replace(/\s+/g, ' ').trim();
  return text === '' ? null : text.split(/(?<=\.)\s/)[0]!;
}

/** The interfaces of `declare namespace Condition`, member by member. */
export function parseInterfaces(source: string): Map<string, Member[]> {
  const out = new Map<string, Member[]>();
  for (const m of source.matchAll(/^ {2}interface (\w+) \{\n([\s\S]*?)^ {2}\}/gm)) {
    const members: Member[] = [];
    let doc: string | undefined;
    for (const line of m[2]!.split('\n')) {
      const t = line.trim();
      const comment = /^\/\*\*.*\*\/$/.exec(t);
      if (comment) { doc = comment[0]; continue; }
      const field = /^(?:readonly )?(\w+)\??: (.+);$/.exec(t);
      const method = /^(\w+)\(.*\): .+;$/.exec(t);
      if (field) members.push({ name: field[1]!, type: field[2]!, doc: docText(doc), method: false });
      else if (method) members.push({ name: method[1]!, type: t.slice(method[1]!.length, -1), doc: docText(doc), method: true });
      doc = undefined;
    }
    out.set(m[1]!, members);
  }
  return out;
}

/** Every completion the editor offers. */
export function conditionCompletions(source: string = declarations): Completion[] {
  const interfaces = parseInterfaces(source);
  const completions: Completion[] = [];
  // `req.caller.address`, `req.sqos.sending.tokenRate`, ...: members whose type is another of the
  // interfaces (a `| null` aside) are followed into it.
  const walk = (prefix: string, name: string, depth: number): void => {
    for (const m of interfaces.get(name) ?? []) {
      const path = `${prefix}.${m.name}`;
      completions.push({ label: path, type: m.method ? 'method' : 'property', detail: m.type, ...(m.doc ? { info: m.doc } : {}) });
      const inner = m.type.replace(/\s*\|\s*null$/, '');
      if (depth < 3 && interfaces.has(inner)) walk(path, inner, depth + 1);
    }
  };
  walk('req', 'Request', 0);
  walk('ctx', 'Context', 0);
  for (const m of interfaces.get('VerdictObject') ?? []) {
    completions.push({ label: m.name, type: 'property', detail: `verdict object: ${m.type}`, ...(m.doc ? { info: m.doc } : {}) });
  }
  for (const m of source.matchAll(/(\/\*\*[^\n]*\*\/)\ndeclare const (CF_\w+): (\d+);/g)) {
    completions.push({ label: m[2]!, type: 'constant', detail: m[3]!, ...(docText(m[1]) ? { info: docText(m[1])! } : {}) });
  }
  const names = /type VerdictName = ([^;]+);/.exec(source)?.[1] ?? '';
  for (const v of names.matchAll(/'(\w+)'/g)) completions.push({ label: `'${v[1]}'`, type: 'text', detail: 'verdict' });
  // Provided by the sandbox but not declared there (see the note at the top of the .d.ts).
  completions.push({ label: 'TextDecoder', type: 'class', detail: 'UTF-8' }, { label: 'TextEncoder', type: 'class', detail: 'UTF-8' });
  return completions;
}
