// Callers whose address is on the list are accepted; everyone else is refused (WSAECONNREFUSED).
const ALLOWED = new Set(['127.0.0.1', '::1']);

/** @param {Condition.Request} req  @param {Condition.Context} ctx */
export default function condition(req, ctx) {
  return ALLOWED.has(req.caller.address) ? CF_ACCEPT : CF_REJECT;
}
