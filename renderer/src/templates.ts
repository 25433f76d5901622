// Starting points for a condition script: the new-listener form's "Condition script" choice, the
// script panel's "Start from" menu and the what-if's script choice. The ones that are also
// examples for the command line are read from examples/ at build time.
import AllowListSource from '../../examples/allow-list.js?raw';
import RateLimitSource from '../../examples/rate-limit.js?raw';
import WaitForDataSource from '../../examples/wait-for-data.js?raw';

export interface ScriptTemplate { id: string; label: string; hint: string; filename: string; source: string | null }

export const SCRIPT_TEMPLATES: ScriptTemplate[] = [
  {
    id: 'none', label: 'None (the host accepts every request)',
    // electron/host/listener.ts: without a script the built-in condition returns CF_ACCEPT.
    hint: 'Without a script the host accepts every request (CF_ACCEPT). The fallback verdict is only for a script that fails.',
    filename: '', source: null,
  },
  {
    id: 'accept', label: 'Accept everything', hint: 'CF_ACCEPT for every request, as a script you can build on.', filename: 'accept.js',
    source: `/** @param {Condition.Request} req  @param {Condition.Context} ctx */
export default function condition(req, ctx) {
  return CF_ACCEPT;
}
`,
  },
  {
    id: 'allow-list', label: 'Allow-list by address', hint: 'Accepts callers whose address is on the list; rejects everyone else.', filename: 'allow-list.js',
    source: AllowListSource,
  },
  {
    id: 'rate-limit', label: 'Rate limit per caller', hint: 'At most 5 requests per caller address per second (kept in ctx.state); the rest are rejected.', filename: 'rate-limit.js',
    source: RateLimitSource,
  },
  {
    id: 'wait-for-data', label: 'Wait for caller data', hint: 'Defers until the caller has sent bytes; a greeting of "HELLO" is accepted, anything else rejected.', filename: 'wait-for-data.js',
    source: WaitForDataSource,
  },
  {
    id: 'ask', label: 'Ask a person', hint: 'Every request waits in the pending queue for your decision.', filename: 'ask.js',
    source: `// Every request waits in the pending queue until a person decides it. Return 'ask' only for
// the requests that need a person, and a verdict for the rest.
/** @param {Condition.Request} req  @param {Condition.Context} ctx */
export default function condition(req, ctx) {
  return 'ask';
}
`,
  },
];

/** A fresh script for a listener that has none yet. */
export const NEW_SCRIPT = `/** @param {Condition.Request} req  @param {Condition.Context} ctx */
export default function condition(req, ctx) {
  // 'accept' | 'reject' | 'defer' | 'ask' (a person decides), or CF_ACCEPT / CF_REJECT / CF_DEFER
  return 'ask';
}
`;
