#!/usr/bin/python3
"""Differential test: pgcmk's XtsCipher against Debian's python3-cryptography (OpenSSL-backed but an
independent code path: its own bindings and key handling).

Lengths >= 16: IEEE 1619 XTS-AES-256 with ciphertext stealing, compared byte for byte.
Lengths 1..15: the scheme documented in src/crypto/aes_xts.h, computed here from its definition:
    C = P XOR XTS-Encrypt(key, tweak', 0^16)[:len],  tweak' = tweak with bit 7 of byte 15 set.
Length 0: empty output. Both directions are checked (our decrypt of the reference ciphertext).

Usage: xts_differential.py <path to xts_tool> [cases]
"""
import os
import random
import subprocess
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def xts_encrypt(key, tweak, data):
    enc = Cipher(algorithms.AES(key), modes.XTS(tweak)).encryptor()
    return enc.update(data) + enc.finalize()


def reference(key, tweak, data):
    if len(data) == 0:
        return b""
    if len(data) >= 16:
        return xts_encrypt(key, tweak, data)
    short_tweak = tweak[:15] + bytes([tweak[15] | 0x80])
    keystream = xts_encrypt(key, short_tweak, bytes(16))
    return bytes(p ^ k for p, k in zip(data, keystream))


def main():
    tool = sys.argv[1]
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))
    seed = rng.getrandbits(64)
    rng = random.Random(seed)
    lengths = [0, 4096, 8192] + list(range(1, 16)) + list(range(16, 48))
    lengths += [4096] * 200 + [8192] * 50
    lengths += [rng.randint(1, 15) for _ in range(300)]
    while len(lengths) < cases:
        lengths.append(rng.randint(17, 4095))
    work = []
    for n in lengths:
        while True:
            key = rng.randbytes(64)
            if key[:32] != key[32:]:
                break
        if rng.random() < 0.5:
            tweak = rng.getrandbits(64).to_bytes(8, "little") + bytes(8)  # plain64 unit index
        else:
            tweak = bytearray(rng.randbytes(16))
            if n < 16:
                tweak[15] &= 0x7F  # the caller guarantee for short units
            tweak = bytes(tweak)
        data = rng.randbytes(n)
        work.append((key, tweak, data, reference(key, tweak, data)))

    lines = []
    for key, tweak, data, expected in work:
        lines.append(f"E {key.hex()} {tweak.hex()} {data.hex() or '-'}")
        lines.append(f"D {key.hex()} {tweak.hex()} {expected.hex() or '-'}")
    proc = subprocess.run([tool], input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=120, check=True)
    out = proc.stdout.splitlines()
    if len(out) != len(lines):
        print(f"FAIL: tool answered {len(out)} lines for {len(lines)} requests (seed {seed})")
        return 1
    failures = 0
    by_kind = {"empty": 0, "short (1..15)": 0, "block multiple": 0, "stolen tail": 0}
    for i, (key, tweak, data, expected) in enumerate(work):
        got_ct, got_pt = out[2 * i], out[2 * i + 1]
        want_ct, want_pt = expected.hex() or "-", data.hex() or "-"
        if got_ct != want_ct or got_pt != want_pt:
            failures += 1
            if failures <= 5:
                print(f"FAIL len={len(data)} tweak={tweak.hex()}: encrypt {'ok' if got_ct == want_ct else 'MISMATCH'}, "
                      f"decrypt {'ok' if got_pt == want_pt else 'MISMATCH'} ({got_ct[:40]})")
        n = len(data)
        kind = ("empty" if n == 0 else "short (1..15)" if n < 16 else
                "block multiple" if n % 16 == 0 else "stolen tail")
        by_kind[kind] += 1
    print(f"xts differential: {len(work)} units (seed {seed}): " +
          ", ".join(f"{k} {v}" for k, v in by_kind.items()) +
          f"; {sum(1 for w in work if len(w[2]) == 4096)} of 4096 bytes; {failures} failures")
    if len(work) < 1000 or by_kind["short (1..15)"] < 300 or by_kind["stolen tail"] < 500:
        print("FAIL: too few cases")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
