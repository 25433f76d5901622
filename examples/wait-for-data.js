// Defer until the caller has sent its first bytes, then decide on them: a request that starts
// with "HELLO" is accepted. A caller that stays silent expires after the listener's defer timeout.
export default function condition(req) {
  if (req.callerData.length === 0) return CF_DEFER;
  const greeting = new TextDecoder().decode(req.callerData.subarray(0, 5));
  return greeting === 'HELLO' ? CF_ACCEPT : CF_REJECT;
}
