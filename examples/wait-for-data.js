// Defer until the caller has sent its first bytes, then decide on them. A caller that stays
// silent expires after the listener's defer timeout (WSAEACCES).
/** @param {Condition.Request} req  @param {Condition.Context} ctx */
export default function condition(req, ctx) {
  if (req.callerData.length === 0) return CF_DEFER;
  const greeting = new TextDecoder().decode(req.callerData.subarray(0, 5));
  return greeting === 'HELLO' ? CF_ACCEPT : CF_REJECT;
}
