// Let a person decide every request from outside loopback; accept loopback straight away.
export default function condition(req) {
  if (req.caller.address === '127.0.0.1' || req.caller.address === '::1') return 'accept';
  return 'ask';
}
