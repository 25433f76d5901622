// Runs inside a private network namespace (see fastopen.test.ts): a Fast Open listener and a
// Fast Open client whose first bytes ride in the SYN. Prints what the condition function saw.
'use strict';
const { execFile } = require('node:child_process');
const path = require('node:path');
const addon = require('node-gyp-build')(process.env.AW_ADDON_DIR || path.resolve(__dirname, '../..'));

const listener = new addon.Listener({ address: '127.0.0.1', port: 0, fastOpen: true, handler: 'echo' });
const offers = [];
listener.start((_id, _attempt, json) => {
  const o = JSON.parse(json);
  offers.push({ attempt: o.attempt, source: o.callerDataSource, data: Buffer.from(o.callerData, 'base64').toString() });
  return 0;
}, () => {});

// The first connection fetches a cookie; the second sends its data in the SYN.
const client = `
import socket, sys
port = int(sys.argv[1])
for i in range(2):
    s = socket.socket()
    s.sendto(b'tfo-%d' % i, socket.MSG_FASTOPEN, ('127.0.0.1', port))
    s.recv(64)
    s.close()
`;
// Asynchronously: the listener's offers need this JS thread while the client runs.
execFile('python3', ['-c', client, String(listener.port)], { timeout: 10000 }, (err) => {
  listener.stop();
  process.stdout.write(JSON.stringify({ offers, ...(err ? { error: err.message } : {}) }) + '\n');
});
