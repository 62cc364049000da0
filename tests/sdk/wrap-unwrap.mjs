#!/usr/bin/env node
// Wrap and unwrap a fresh 32-byte key with a key in a pgcmk vault, using only the official Azure
// SDKs (@azure/identity's ClientSecretCredential against the vault's token endpoint, and
// @azure/keyvault-keys' CryptographyClient). The README's "by hand" walk-through runs it; the
// vault_sdk_compat test runs it too, so it stays working.
//
// Usage (after `npm ci` in tests/sdk; paths are not secrets, the secret stays in its file):
//   VAULT_DIR=/var/lib/pgcmk/vault TENANT_ID=<tenantId> CLIENT_ID=<clientId> \
//   SECRET_FILE=app1.secret KEY=kek1 node tests/sdk/wrap-unwrap.mjs
// VAULT_URL and VAULT_CA default to VAULT_DIR/vault.url and VAULT_DIR/tls/ca.pem.
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { ClientSecretCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`wrap-unwrap: set ${name} (see the usage at the top of this file)`);
    process.exit(2);
  }
  return v;
}

const dir = process.env.VAULT_DIR;
const url = process.env.VAULT_URL ?? (dir && readFileSync(`${dir}/vault.url`, "utf8").trim());
const caFile = process.env.VAULT_CA ?? (dir && `${dir}/tls/ca.pem`);
if (!url || !caFile) need("VAULT_DIR");
if (!process.env.NODE_EXTRA_CA_CERTS) {
  // MSAL's HTTP client only trusts NODE_EXTRA_CA_CERTS, read at process start: re-run with it.
  const { spawnSync } = await import("node:child_process");
  const r = spawnSync(process.execPath, process.argv.slice(1), {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
  });
  process.exit(r.status ?? 1);
}

const credential = new ClientSecretCredential(
  need("TENANT_ID"),
  need("CLIENT_ID"),
  readFileSync(need("SECRET_FILE"), "utf8").trim(),
  { authorityHost: url, disableInstanceDiscovery: true },
);
const keys = new KeyClient(url, credential, {
  tlsOptions: { ca: readFileSync(caFile) },
  // Clients reach the vault by IP address, not a name under the resource's domain.
  disableChallengeResourceVerification: true,
});
const crypto = keys.getCryptographyClient(need("KEY"));
const dek = randomBytes(32);
const wrapped = await crypto.wrapKey("RSA-OAEP-256", dek);
const unwrapped = await crypto.unwrapKey("RSA-OAEP-256", wrapped.result);
if (!Buffer.from(unwrapped.result).equals(dek)) {
  console.error("wrap-unwrap: the unwrapped key differs from the original");
  process.exit(1);
}
console.log(`wrapped a 32-byte key with ${wrapped.keyID} (${wrapped.result.length}-byte ciphertext)`);
console.log("unwrapped it again with the vault: identical");
