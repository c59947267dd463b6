// resolve.js — the Node.js client of the resolver matrix. Node has two resolvers: dns.lookup
// (getaddrinfo on libuv's thread pool; what http.get uses) and dns.resolve* (c-ares, which reads
// /etc/resolv.conf itself and sends its own queries). It checks a Cloud Map name with both:
//
//   dns.lookup(NAME)           the IPv4 addresses are exactly EXPECT_A            (else exit 10)
//   http.get NAME:PORT/health  answers 200                                        (else exit 11)
//   dns.resolve4(NAME)         exactly EXPECT_A                                   (else exit 12)
//   dns.resolveSrv(SRV_NAME)   the targets are exactly EXPECT_SRV ("target:port") (else exit 20)
//   each SRV target            dns.lookup within EXPECT_A, http.get answers 200   (else exit 21)
//
// The contract (environment, exit codes) is the one of every client in this directory (README.md).
'use strict';
const dns = require('node:dns');
const http = require('node:http');

class Check extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const words = (text) => [...new Set((text || '').split(/\s+/).filter(Boolean).map((w) => w.toLowerCase()))].sort();
const sameSet = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

async function lookupIpv4(name, code) {
  let results;
  try {
    results = await dns.promises.lookup(name, { all: true });
  } catch (error) {
    throw new Check(code, `dns.lookup ${name}: ${error.code || error.message}`);
  }
  return words(results.filter((r) => r.family === 4).map((r) => r.address).join(' '));
}

function httpHealth(host, port, code) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host, port, path: '/health', timeout: 5000 }, (response) => {
      response.resume();
      if (response.statusCode === 200) {
        console.log(`ok http GET http://${host}:${port}/health: 200`);
        resolve();
      } else {
        reject(new Check(code, `http GET http://${host}:${port}/health: ${response.statusCode}`));
      }
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error) => reject(new Check(code, `http GET http://${host}:${port}/health: ${error.code || error.message}`)));
  });
}

async function main() {
  const { NAME: name, EXPECT_A: expectA, PORT: port, SRV_NAME: srvName, EXPECT_SRV: expectSrv } = process.env;
  if (!name || !expectA || !port || (srvName && !expectSrv)) {
    throw new Check(2, 'usage: NAME, EXPECT_A, PORT (and EXPECT_SRV with SRV_NAME) must be set');
  }
  const expected = words(expectA);

  const looked = await lookupIpv4(name, 10);
  if (!sameSet(looked, expected)) throw new Check(10, `dns.lookup ${name} gave ${looked}, expected ${expected}`);
  console.log(`ok dns.lookup ${name}: ${looked.join(' ')}`);
  await httpHealth(name, port, 11);

  let resolved;
  try {
    resolved = words((await dns.promises.resolve4(name)).join(' '));
  } catch (error) {
    throw new Check(12, `dns.resolve4 ${name}: ${error.code || error.message}`);
  }
  if (!sameSet(resolved, expected)) throw new Check(12, `dns.resolve4 ${name} gave ${resolved}, expected ${expected}`);
  console.log(`ok dns.resolve4 ${name}: ${resolved.join(' ')}`);

  if (!srvName) return;
  let records;
  try {
    records = await dns.promises.resolveSrv(srvName);
  } catch (error) {
    throw new Check(20, `dns.resolveSrv ${srvName}: ${error.code || error.message}`);
  }
  const srv = words(records.map((r) => `${r.name}:${r.port}`).join(' '));
  if (!sameSet(srv, words(expectSrv))) throw new Check(20, `dns.resolveSrv ${srvName} gave ${srv}, expected ${words(expectSrv)}`);
  console.log(`ok dns.resolveSrv ${srvName}: ${srv.join(' ')}`);
  for (const record of records) {
    const addresses = await lookupIpv4(record.name, 21);
    if (addresses.length === 0 || !addresses.every((a) => expected.includes(a))) {
      throw new Check(21, `dns.lookup ${record.name} gave ${addresses}, not within ${expected}`);
    }
    console.log(`ok dns.lookup ${record.name}: ${addresses.join(' ')}`);
    await httpHealth(record.name, record.port, 21);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.log(`FAIL ${error.message}`);
    process.exit(error instanceof Check ? error.code : 1);
  },
);
