// The official @azure/identity credentials against the vault's Entra-shaped token endpoint:
// ClientSecretCredential and ClientCertificateCredential (MSAL for Node underneath) with
// authorityHost = the vault's URL and instance discovery off, driving @azure/keyvault-keys.
// MSAL first reads <vault>/<tenant>/v2.0/.well-known/openid-configuration, then posts the
// client-credentials request (a PS256 client assertion naming the certificate by x5t#S256).
// Started by run.sh (NODE_EXTRA_CA_CERTS = the vault's CA, which MSAL's HTTP client needs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { ClientCertificateCredential, ClientSecretCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";

const url = process.env.VAULT_URL;
const ca = readFileSync(process.env.VAULT_CA);
const admin = JSON.parse(readFileSync(process.env.VAULT_ADMIN_CREDENTIAL, "utf8"));
const work = process.env.VAULT_WORK;
const clientOptions = {
  tlsOptions: { ca },
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 0 },
};
const identityOptions = { authorityHost: url, disableInstanceDiscovery: true };

function pgcmk(...args) {
  return execFileSync(process.env.PGCMK, [...args, "--data-dir", process.env.VAULT_DATA_DIR], {
    encoding: "utf8",
  });
}
function newIdentity(name) {
  const secretFile = `${work}/${name}.secret`;
  const id = JSON.parse(pgcmk("vault", "identity", "create", name, "--secret-file", secretFile, "--output", "json"));
  pgcmk("vault", "policy", "set", name, "--role", "Key Vault Crypto User");
  return { clientId: id.clientId, secret: readFileSync(secretFile, "utf8"), secretFile };
}
let keyCounter = 0;
async function wrapRoundTrip(credential) {
  const keys = new KeyClient(url, credential, clientOptions);
  const admin = new KeyClient(url, adminCredential, clientOptions);
  const name = `idkey-${process.pid}-${++keyCounter}`;
  await admin.createRsaKey(name, { keySize: 2048 });
  const cc = keys.getCryptographyClient(name);
  const dek = crypto.randomBytes(32);
  const { result } = await cc.wrapKey("RSA-OAEP-256", dek);
  const back = await cc.unwrapKey("RSA-OAEP-256", result);
  assert.deepEqual(Buffer.from(back.result), dek);
}
const adminCredential = new ClientSecretCredential(admin.tenantId, admin.clientId, admin.clientSecret, identityOptions);

test("ClientSecretCredential gets tokens from the vault and drives the keys SDK", async () => {
  const app = newIdentity(`secret-app-${process.pid}`);
  await wrapRoundTrip(new ClientSecretCredential(admin.tenantId, app.clientId, app.secret, identityOptions));
  const wrong = new ClientSecretCredential(admin.tenantId, app.clientId, "not-the-secret", identityOptions);
  await assert.rejects(wrong.getToken(`${admin.resource}/.default`), (e) => {
    assert.match(e.name, /^Authentication(Required)?Error$/, e.message);
    assert.match(e.message, /AADSTS7000215|invalid_client/);
    return true;
  });
});

test("ClientCertificateCredential (PEM with key and certificate) authenticates with an assertion", async () => {
  const name = `cert-app-${process.pid}`;
  const app = newIdentity(name);
  const pem = `${work}/${name}.pem`;
  const added = JSON.parse(pgcmk("vault", "identity", "cert", "create", name, "--out", pem, "--output", "json"));
  for (const sendCertificateChain of [false, true]) {
    const credential = new ClientCertificateCredential(admin.tenantId, app.clientId, { certificatePath: pem }, {
      ...identityOptions,
      sendCertificateChain,
    });
    await wrapRoundTrip(credential);
  }
  const audit = JSON.parse(pgcmk("vault", "audit", "show", "--operation", "Authentication", "--limit", "1000", "--output", "json"));
  const records = audit.value ?? audit;
  assert.ok(JSON.stringify(records).includes(`certificates/${added.thumbprint}`));

  // Once removed, the certificate no longer authenticates.
  pgcmk("vault", "identity", "cert", "remove", name, added.keyId);
  const fresh = new ClientCertificateCredential(admin.tenantId, app.clientId, { certificatePath: pem }, identityOptions);
  await assert.rejects(fresh.getToken(`${admin.resource}/.default`), (e) => {
    assert.match(e.name, /^Authentication(Required)?Error$/, e.message);
    assert.match(e.message, /AADSTS700027/);
    return true;
  });
});

test("a certificate of another identity is refused", async () => {
  const a = newIdentity(`cert-a-${process.pid}`);
  newIdentity(`cert-b-${process.pid}`);
  const pem = `${work}/cert-b-${process.pid}.pem`;
  pgcmk("vault", "identity", "cert", "create", `cert-b-${process.pid}`, "--out", pem);
  const credential = new ClientCertificateCredential(admin.tenantId, a.clientId, { certificatePath: pem }, identityOptions);
  await assert.rejects(credential.getToken(`${admin.resource}/.default`), /AADSTS700027/);
});
