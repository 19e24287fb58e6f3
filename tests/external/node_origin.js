// Node's llhttp as an origin: for each line of base64 on stdin, feed the bytes to a real
// http.Server over a real socket and print {"requests": [[method, url, body]], "error"} as a line.
'use strict';
const http = require('http');
const net = require('net');
const readline = require('readline');

const records = new Map(); // client-side local port -> record
const recordOf = (sock) => records.get(sock.remotePort);
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const r = recordOf(req.socket); if (r) r.requests.push([req.method, req.url, Buffer.concat(chunks).toString('latin1')]);
    res.end('ok');
  });
  req.on('error', () => {});
});
server.on('clientError', (err, socket) => {
  const r = recordOf(socket); if (r && !r.error) r.error = 'node: ' + (err.code || err.message);
  socket.destroy();
});
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const queue = [];
  let busy = false;
  const next = () => {
    if (busy || queue.length === 0) return;
    busy = true;
    const data = Buffer.from(queue.shift(), 'base64');
    const record = { requests: [], error: null };
    const sock = net.connect(port, '127.0.0.1', () => { records.set(sock.localPort, record); sock.write(data); });
    let timer = null;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      records.delete(sock.localPort);
      sock.destroy();
      process.stdout.write(JSON.stringify(record) + '\n');
      busy = false;
      setImmediate(next);
    };
    const arm = () => { clearTimeout(timer); timer = setTimeout(finish, 250); };
    sock.on('data', arm);
    sock.on('error', () => {});
    sock.on('close', () => { if (busy) setTimeout(finish, 50); });
    arm();
  };
  readline.createInterface({ input: process.stdin })
    .on('line', (l) => { queue.push(l); next(); })
    .on('close', () => process.exit(0)); // the harness ended: so does this origin
});
