// Condition script for `npm run bench:accept`: decides every connection with a little logic,
// so the benchmark pays the full native -> script -> native round trip on each one.
// Caller port 0 never happens on TCP, so every caller is accepted.
export default (req, ctx) => {
  if (ctx && ctx.state) ctx.state.n = (ctx.state.n ?? 0) + 1;
  return req.caller.port === 0 ? 'reject' : 'accept';
};
