// At most 5 connections per caller address per second; ctx.state lives until the script is replaced.
const LIMIT = 5;

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
    return 'reject';
  }
  return 'accept';
}
