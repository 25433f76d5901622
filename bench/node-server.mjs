// Baseline server for `npm run bench:accept`: plain Node, accept and destroy at once.
//
//   node bench/node-server.mjs HOST PORT
//
// Prints {"type":"listening",...} when ready and, on SIGINT/SIGTERM, a summary line with the
// number of connections it took, like the other servers of the benchmark.
import net from 'node:net';

const [host = '127.0.0.1', portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`node-server: bad port ${portArg}\n`);
  process.exit(2);
}

let accepted = 0;
const server = net.createServer((s) => {
  accepted++;
  s.on('error', () => {}); // the client's RST may arrive first; not an error here
  s.destroy();
});
server.on('error', (err) => {
  process.stderr.write(`node-server: ${err.message}\n`);
  process.exit(1);
});
server.listen({ host, port, backlog: 511 }, () => {
  const a = server.address();
  process.stdout.write(JSON.stringify({ type: 'listening', address: a.address, port: a.port, pid: process.pid }) + '\n');
});

function stop() {
  server.close();
  process.stdout.write(JSON.stringify({ type: 'summary', accepted }) + '\n', () => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
