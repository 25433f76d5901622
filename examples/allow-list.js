// Accept callers from an allow-list of addresses; refuse everyone else.
const allowed = new Set(['127.0.0.1', '::1']);

export default function condition(req) {
  return allowed.has(req.caller.address) ? 'accept' : 'reject';
}
