// At most LIMIT requests per caller address per second. ctx.state lives until the script is
// replaced, so the counts carry over from one request to the next. (In a what-if replay the
// clock is the replay's, not the recording's.)
const LIMIT = 5;

/** @param {Condition.Request} req  @param {Condition.Context} ctx */
export default function condition(req, ctx) {
  const now = Date.now();
  const seen = (ctx.state.seen ??= {});
  const window = (seen[req.caller.address] ??= { start: now, count: 0 });
  if (now - window.start >= 1000) {
    window.start = now;
    window.count = 0;
  }
  window.count += 1;
  if (window.count > LIMIT) {
    ctx.log(`rate limit: ${req.caller.address} made ${window.count} requests this second`);
    return CF_REJECT;
  }
  return CF_ACCEPT;
}
