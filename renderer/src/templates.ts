// Starting points for a listener's condition script (the form's "Condition script" choice).
export interface ScriptTemplate { id: string; label: string; hint: string; filename: string; source: string | null }

export const SCRIPT_TEMPLATES: ScriptTemplate[] = [
  { id: 'none', label: 'None (fallback verdict for every request)', hint: 'Without a script every request gets the fallback verdict.', filename: '', source: null },
  {
    id: 'ask', label: 'Ask a person', hint: 'Every request waits in the pending queue for your decision.', filename: 'ask.js',
    source: '// Every request waits in the pending queue until a person decides it.\nexport default function condition(req, ctx) {\n  return \'ask\';\n}\n',
  },
  {
    id: 'accept', label: 'Accept everything', hint: 'CF_ACCEPT for every request.', filename: 'accept.js',
    source: 'export default function condition(req, ctx) {\n  return CF_ACCEPT;\n}\n',
  },
  {
    id: 'wait-for-data', label: 'Wait for data, then decide', hint: 'Defers until the caller has sent bytes; "HELLO" is accepted.', filename: 'wait-for-data.js',
    source: 'export default function condition(req, ctx) {\n  if (req.callerData.length === 0) return CF_DEFER;\n  const greeting = new TextDecoder().decode(req.callerData.subarray(0, 5));\n  return greeting === \'HELLO\' ? CF_ACCEPT : CF_REJECT;\n}\n',
  },
  {
    id: 'reject', label: 'Reject everything', hint: 'CF_REJECT for every request.', filename: 'reject.js',
    source: 'export default function condition(req, ctx) {\n  return CF_REJECT;\n}\n',
  },
];

/** A fresh script for a listener that has none yet. */
export const NEW_SCRIPT = `/** @param {Condition.Request} req  @param {Condition.Context} ctx */
export default function condition(req, ctx) {
  // 'accept' | 'reject' | 'defer' | 'ask' (a person decides), or CF_ACCEPT / CF_REJECT / CF_DEFER
  return 'ask';
}
`;
