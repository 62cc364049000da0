// Azure SDK compatibility suite: the official @azure/keyvault-keys 4.10.x drives a live
// `pgcmk vault serve` (HTTPS with the vault's private CA) through every implemented operation.
// Started by run.sh, which provides VAULT_URL, VAULT_CA, VAULT_ADMIN_CREDENTIAL, PGCMK, VAULT_DATA_DIR.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import https from "node:https";
import crypto from "node:crypto";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";

const url = process.env.VAULT_URL;
const ca = readFileSync(process.env.VAULT_CA);
const admin = JSON.parse(readFileSync(process.env.VAULT_ADMIN_CREDENTIAL, "utf8"));
const work = process.env.VAULT_WORK;
const clientOptions = {
  tlsOptions: { ca },
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 0 },
};

function post(path, body, contentType) {
  return new Promise((resolve, reject) => {
    const req = https.request(url + path, { method: "POST", ca, headers: { "content-type": contentType } }, (res) => {
      let data = "";
      res.on("data", (c) => (data += c));
      res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(data) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// A TokenCredential using the vault's own Entra-shaped token endpoint.
class VaultCredential {
  constructor(clientId, clientSecret) {
    this.clientId = clientId;
    this.clientSecret = clientSecret;
    this.calls = 0;
  }
  async getToken(scopes, options) {
    this.calls++;
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    const tenant = options?.tenantId ?? admin.tenantId;
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: this.clientId,
      client_secret: this.clientSecret,
      scope,
    }).toString();
    const r = await post(`/${tenant}/oauth2/v2.0/token`, form, "application/x-www-form-urlencoded");
    if (r.status !== 200) throw new Error(`token: ${r.status} ${r.body.error}`);
    return { token: r.body.access_token, expiresOnTimestamp: Date.now() + r.body.expires_in * 1000 };
  }
}

const adminCred = new VaultCredential(admin.clientId, admin.clientSecret);
const keys = new KeyClient(url, adminCred, clientOptions);
let counter = 0;
const unique = (p) => `${p}-${process.pid}-${++counter}`;

function pgcmk(...args) {
  return execFileSync(process.env.PGCMK, [...args, "--data-dir", process.env.VAULT_DATA_DIR], { encoding: "utf8" });
}
function identity(name, permissions, role) {
  const file = `${work}/${name}.secret`;
  const id = JSON.parse(pgcmk("vault", "identity", "create", name, "--secret-file", file, "--output", "json"));
  const args = ["vault", "policy", "set", name, "--key-permissions", permissions];
  if (role) args.push("--role", role);
  pgcmk(...args);
  return new VaultCredential(id.clientId, readFileSync(file, "utf8"));
}

async function rejects(promise, status, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, status, `${e.message}`);
    if (code) assert.equal(e.code, code);
    return true;
  });
}

test("create and get RSA keys; kid carries the client-visible origin", async () => {
  const name = unique("rsa");
  const created = await keys.createRsaKey(name, { keySize: 3072, tags: { purpose: "sdk" } });
  assert.ok(created.id.startsWith(`${url}/keys/${name}/`));
  assert.equal(created.keyType, "RSA");
  assert.equal(created.properties.enabled, true);
  assert.equal(created.properties.tags.purpose, "sdk");
  assert.equal(Buffer.from(created.key.n).length, 384);
  assert.equal(created.key.d, undefined);
  const latest = await keys.getKey(name);
  assert.equal(latest.id, created.id);
  const byVersion = await keys.getKey(name.toUpperCase(), { version: created.properties.version });
  assert.equal(byVersion.properties.version, created.properties.version);
  await rejects(keys.createRsaKey(unique("hsm"), { hsm: true }), 400, "BadParameter");
});

test("local RSA-OAEP wrap (SDK and node:crypto) unwraps remotely; OAEP-256 and RSA1_5 round trip", async () => {
  const name = unique("kek");
  const key = await keys.createRsaKey(name, { keySize: 2048 });
  const cc = new CryptographyClient(key, adminCred, clientOptions);
  const dek = crypto.randomBytes(32);
  for (const alg of ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"]) {
    const wrapped = await cc.wrapKey(alg, dek);
    const unwrapped = await cc.unwrapKey(alg, wrapped.result);
    assert.deepEqual(Buffer.from(unwrapped.result), dek, alg);
  }
  const pub = crypto.createPublicKey({ key: { kty: "RSA", n: Buffer.from(key.key.n).toString("base64url"), e: "AQAB" }, format: "jwk" });
  const local = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, dek);
  const byId = keys.getCryptographyClient(name, { keyVersion: key.properties.version });
  const remote = await byId.unwrapKey("RSA-OAEP", local);
  assert.deepEqual(Buffer.from(remote.result), dek);
  const enc = await cc.encrypt({ algorithm: "RSA-OAEP-256", plaintext: Buffer.from("hello") });
  const dec = await cc.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: enc.result });
  assert.equal(Buffer.from(dec.result).toString(), "hello");
});

test("sign and verify digests (RS256, PS256), verifyData locally", async () => {
  const name = unique("signer");
  await keys.createRsaKey(name);
  const cc = keys.getCryptographyClient(name);
  const digest = crypto.createHash("sha256").update("message").digest();
  for (const alg of ["RS256", "PS256"]) {
    const sig = await cc.sign(alg, digest);
    assert.equal((await cc.verify(alg, digest, sig.result)).result, true, alg);
    const other = crypto.createHash("sha256").update("other").digest();
    assert.equal((await cc.verify(alg, other, sig.result)).result, false, alg);
  }
  const sig = await cc.signData("RS256", Buffer.from("data"));
  assert.equal((await cc.verifyData("RS256", Buffer.from("data"), sig.result)).result, true);
});

test("EC keys: create on each curve, sign remotely, verify (ES256/ES384/ES512/ES256K), import", async () => {
  for (const [curve, alg, hash] of [["P-256", "ES256", "sha256"], ["P-384", "ES384", "sha384"], ["P-521", "ES512", "sha512"], ["P-256K", "ES256K", "sha256"]]) {
    const name = unique("ec");
    const key = await keys.createEcKey(name, { curve });
    assert.equal(key.keyType, "EC");
    assert.equal(key.key.crv, curve);
    const cc = keys.getCryptographyClient(name);
    const digest = crypto.createHash(hash).update("msg").digest();
    const sig = await cc.sign(alg, digest);
    assert.equal((await cc.verify(alg, digest, sig.result)).result, true, alg);
  }
  const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = privateKey.export({ format: "jwk" });
  const b = (v) => Buffer.from(v, "base64url");
  const name = unique("ecimp");
  const imported = await keys.importKey(name, { kty: "EC", crv: "P-256", x: b(jwk.x), y: b(jwk.y), d: b(jwk.d) });
  assert.equal(imported.key.d, undefined);
  const digest = crypto.createHash("sha256").update("x").digest();
  const sig = await keys.getCryptographyClient(name).sign("ES256", digest);
  const pub = crypto.createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, format: "jwk" });
  // The vault signed the digest of "x" with the imported private key: node verifies it.
  assert.ok(crypto.verify("sha256", Buffer.from("x"), { key: pub, dsaEncoding: "ieee-p1363" }, Buffer.from(sig.result)));
});

test("update properties; disabled keys refuse crypto with 403", async () => {
  const name = unique("upd");
  const key = await keys.createRsaKey(name);
  const updated = await keys.updateKeyProperties(name, { enabled: false, tags: { a: "b" }, expiresOn: new Date(Date.now() + 86400e3) });
  assert.equal(updated.properties.enabled, false);
  assert.equal(updated.properties.tags.a, "b");
  assert.ok(updated.properties.expiresOn > new Date());
  const remoteOnly = new CryptographyClient(key.id, identity(unique("remote"), "unwrapKey,wrapKey"), clientOptions);
  await rejects(remoteOnly.wrapKey("RSA-OAEP-256", crypto.randomBytes(32)), 403, "Forbidden");
  const again = await keys.updateKeyProperties(name, key.properties.version, { enabled: true });
  assert.equal(again.properties.enabled, true);
});

test("list keys and versions with paging", async () => {
  const prefix = unique("page");
  for (let i = 0; i < 5; i++) await keys.createRsaKey(`${prefix}-${i}`);
  await keys.rotateKey(`${prefix}-0`);
  let pages = 0;
  const names = new Set();
  for await (const page of keys.listPropertiesOfKeys().byPage({ maxPageSize: 2 })) {
    pages++;
    for (const p of page) names.add(p.name);
  }
  for (let i = 0; i < 5; i++) assert.ok(names.has(`${prefix}-${i}`));
  assert.ok(pages >= 3, `pages=${pages}`);
  const versions = [];
  for await (const v of keys.listPropertiesOfKeyVersions(`${prefix}-0`)) versions.push(v.version);
  assert.equal(versions.length, 2);
});

test("delete, recover and purge pollers; 409 on a deleted name; 404 afterwards", async () => {
  const name = unique("del");
  await keys.createRsaKey(name);
  const poller = await keys.beginDeleteKey(name);
  const deleted = await poller.pollUntilDone();
  assert.equal(deleted.name, name);
  assert.ok(deleted.properties.recoveryId.endsWith(`/deletedkeys/${name}`));
  assert.ok(deleted.properties.scheduledPurgeDate > deleted.properties.deletedOn);
  assert.equal(deleted.properties.scheduledPurgeDate - deleted.properties.deletedOn, 7 * 86400e3);
  await rejects(keys.getKey(name), 404, "KeyNotFound");
  await rejects(keys.createRsaKey(name), 409, "Conflict");
  const got = await keys.getDeletedKey(name);
  assert.equal(got.name, name);
  const listed = [];
  for await (const d of keys.listDeletedKeys()) listed.push(d.name);
  assert.ok(listed.includes(name));
  const recovered = await (await keys.beginRecoverDeletedKey(name)).pollUntilDone();
  assert.equal(recovered.name, name);
  await keys.getKey(name);
  await (await keys.beginDeleteKey(name)).pollUntilDone();
  await keys.purgeDeletedKey(name);
  await rejects(keys.getDeletedKey(name), 404);
});

test("rotate and rotation policy", async () => {
  const name = unique("rot");
  const v1 = await keys.createRsaKey(name);
  const empty = await keys.getKeyRotationPolicy(name);
  assert.ok(!empty || !empty.lifetimeActions || empty.lifetimeActions.length === 0);
  const policy = await keys.updateKeyRotationPolicy(name, {
    lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" }, { action: "Notify", timeBeforeExpiry: "P30D" }],
    expiresIn: "P2Y",
  });
  assert.equal(policy.expiresIn, "P2Y");
  assert.equal(policy.lifetimeActions.length, 2);
  const read = await keys.getKeyRotationPolicy(name);
  assert.equal(read.lifetimeActions.find((a) => a.action === "Rotate").timeAfterCreate, "P90D");
  const v2 = await keys.rotateKey(name);
  assert.notEqual(v2.properties.version, v1.properties.version);
  assert.ok(v2.properties.expiresOn > new Date(Date.now() + 700 * 86400e3));
  assert.equal((await keys.getKey(name)).properties.version, v2.properties.version);
});

test("backup and restore keep the name and versions", async () => {
  const name = unique("bk");
  const key = await keys.createRsaKey(name);
  const blob = await keys.backupKey(name);
  assert.ok(blob.length > 100);
  await rejects(keys.restoreKeyBackup(blob), 409);
  await (await keys.beginDeleteKey(name)).pollUntilDone();
  await keys.purgeDeletedKey(name);
  const restored = await keys.restoreKeyBackup(blob);
  assert.equal(restored.properties.version, key.properties.version);
  assert.ok(restored.id.startsWith(url));
});

test("import an RSA key and unwrap what its public key wrapped", async () => {
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const toBytes = (s) => Buffer.from(s, "base64url");
  const name = unique("imp");
  const imported = await keys.importKey(name, {
    kty: "RSA", n: toBytes(jwk.n), e: toBytes(jwk.e), d: toBytes(jwk.d), p: toBytes(jwk.p), q: toBytes(jwk.q),
    dp: toBytes(jwk.dp), dq: toBytes(jwk.dq), qi: toBytes(jwk.qi), keyOps: ["wrapKey", "unwrapKey"],
  });
  assert.equal(imported.key.d, undefined);
  assert.deepEqual(imported.keyOperations, ["wrapKey", "unwrapKey"]);
  const dek = crypto.randomBytes(32);
  const wrapped = crypto.publicEncrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, dek);
  const out = await keys.getCryptographyClient(name).unwrapKey("RSA-OAEP-256", wrapped);
  assert.deepEqual(Buffer.from(out.result), dek);
});

test("401 for bad tokens, 403 without permission, the encryption-user role", async () => {
  const name = unique("authz");
  const key = await keys.createRsaKey(name);
  const forged = { getToken: async () => ({ token: "a.b.c", expiresOnTimestamp: Date.now() + 3600e3 }) };
  await rejects(new KeyClient(url, forged, clientOptions).getKey(name), 401, "Unauthorized");
  const nobody = new KeyClient(url, identity(unique("nobody"), ""), clientOptions);
  await rejects(nobody.getKey(name), 403, "Forbidden");
  const role = identity(unique("cmk"), "", "Key Vault Crypto Service Encryption User");
  const roleKeys = new KeyClient(url, role, clientOptions);
  await roleKeys.getKey(name);
  await rejects(roleKeys.listPropertiesOfKeys().next(), 403);
  const cc = new CryptographyClient(key.id, role, clientOptions);
  const dek = crypto.randomBytes(32);
  const wrapped = await cc.wrapKey("RSA-OAEP-256", dek);
  assert.deepEqual(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", wrapped.result)).result), dek);
  await rejects(cc.sign("RS256", crypto.createHash("sha256").update("x").digest()), 403);
});

test("permission matrix through the SDK: each operation 403 without its permission, success with it", async () => {
  const name = unique("pm");
  const key = await keys.createRsaKey(name);
  const digest = crypto.createHash("sha256").update("m").digest();
  const sig = await keys.getCryptographyClient(name).sign("RS256", digest);
  const wrapped = await keys.getCryptographyClient(name).wrapKey("RSA-OAEP-256", crypto.randomBytes(32));
  const all = ["get", "list", "create", "update", "delete", "recover", "purge", "backup", "restore", "rotate",
    "getrotationpolicy", "setrotationpolicy", "wrapKey", "unwrapKey", "encrypt", "decrypt", "sign", "verify", "import"];
  const ops = {
    get: (k) => k.getKey(name),
    list: (k) => k.listPropertiesOfKeys().next(),
    create: (k) => k.createRsaKey(unique("pmc")),
    update: (k) => k.updateKeyProperties(name, { tags: { x: "y" } }),
    rotate: (k) => k.rotateKey(name),
    backup: (k) => k.backupKey(name),
    getrotationpolicy: (k) => k.getKeyRotationPolicy(name),
    setrotationpolicy: (k) => k.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" }] }),
    wrapKey: (k, c) => new CryptographyClient(key.id, c, clientOptions).wrapKey("RSA-OAEP-256", crypto.randomBytes(32)),
    unwrapKey: (k, c) => new CryptographyClient(wrapped.keyID, c, clientOptions).unwrapKey("RSA-OAEP-256", wrapped.result),
    encrypt: (k, c) => new CryptographyClient(key.id, c, clientOptions).encrypt("RSA-OAEP-256", Buffer.from("x")),
    decrypt: async (k, c) => {
      const enc = await keys.getCryptographyClient(name).encrypt("RSA-OAEP-256", Buffer.from("x"));
      return new CryptographyClient(enc.keyID, c, clientOptions).decrypt("RSA-OAEP-256", enc.result);
    },
    sign: (k, c) => new CryptographyClient(key.id, c, clientOptions).sign("RS256", digest),
    verify: (k, c) => new CryptographyClient(sig.keyID, c, clientOptions).verify("RS256", digest, sig.result),
  };
  // Operations that need state arranged by the admin first: [permission, label, prepare], where
  // prepare() returns the operation (run twice: denied, then allowed; a denied call changes nothing).
  const deletedKey = async (prefix) => {
    const n = unique(prefix);
    await keys.createRsaKey(n);
    await (await keys.beginDeleteKey(n)).pollUntilDone();
    return n;
  };
  const toBytes = (s) => Buffer.from(s, "base64url");
  const prepared = [
    ["delete", "delete (poller)", async () => {
      const n = unique("pmdel");
      await keys.createRsaKey(n);
      return async (k) => (await k.beginDeleteKey(n)).pollUntilDone();
    }],
    ["recover", "recover (poller)", async () => {
      const n = await deletedKey("pmrec");
      return async (k) => (await k.beginRecoverDeletedKey(n)).pollUntilDone();
    }],
    ["purge", "purge", async () => {
      const n = await deletedKey("pmpur");
      return (k) => k.purgeDeletedKey(n);
    }],
    ["restore", "restore", async () => {
      const n = unique("pmres");
      await keys.createRsaKey(n);
      const blob = await keys.backupKey(n);
      await (await keys.beginDeleteKey(n)).pollUntilDone();
      await keys.purgeDeletedKey(n);
      return (k) => k.restoreKeyBackup(blob);
    }],
    ["import", "import", async () => {
      const jwk = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
      const key = { kty: "RSA" };
      for (const f of ["n", "e", "d", "p", "q", "dp", "dq", "qi"]) key[f] = toBytes(jwk[f]);
      return (k) => k.importKey(unique("pmimp"), key);
    }],
    ["get", "get a deleted key", async () => {
      const n = await deletedKey("pmgd");
      return (k) => k.getDeletedKey(n);
    }],
    ["list", "list deleted keys", async () => (k) => k.listDeletedKeys().next()],
    ["list", "list a key's versions", async () => (k) => k.listPropertiesOfKeyVersions(name).next()],
  ];
  for (const [perm, op] of Object.entries(ops)) prepared.push([perm, perm, async () => op]);
  const covered = new Set();
  for (const [perm, label, prepare] of prepared) {
    const op = await prepare();
    const without = identity(unique(`no-${perm}`), all.filter((p) => p !== perm).join(","));
    const withOnly = identity(unique(`only-${perm}`), perm);
    await rejects(op(new KeyClient(url, without, clientOptions), without), 403).catch((e) => {
      throw new Error(`${label} without ${perm}: ${e.message}`);
    });
    await op(new KeyClient(url, withOnly, clientOptions), withOnly).catch((e) => {
      throw new Error(`${label} with only ${perm}: ${e.message}`);
    });
    covered.add(perm);
  }
  assert.deepEqual([...covered].sort(), [...all].sort());  // every permission of the matrix
});

test("a deleted identity's cached token is refused with 401 (expired tokens: vault_daemon_test)", async () => {
  const name = unique("rev");
  await keys.createRsaKey(name);
  const idName = unique("revoked");
  const cred = identity(idName, "get");
  const client = new KeyClient(url, cred, clientOptions);
  await client.getKey(name);
  pgcmk("vault", "identity", "delete", idName);
  await rejects(client.getKey(name), 401);
});
