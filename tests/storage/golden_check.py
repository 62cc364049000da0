#!/usr/bin/env python3
"""Decrypts the golden volume with an independent implementation of docs/storage.md (Python's
`cryptography`, not our C++ code) and compares with the plaintext the C++ test wrote. If this and
the C++ golden test both pass, the documented format, our implementation and OpenSSL agree."""
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

UNIT = 4096
GOLDEN = sys.argv[1] if len(sys.argv) > 1 else "tests/storage/golden/volume-v1"
DEK = bytes(range(32))


def hkdf(key, salt, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(key)


def tweak(index, short=False):
    t = bytearray(index.to_bytes(8, "little") + bytes(8))
    if short:
        t[15] |= 0x80
    return bytes(t)


def decrypt_unit(key, index, c):
    if len(c) < 16:
        ks = Cipher(algorithms.AES(key), modes.XTS(tweak(index, True))).encryptor().update(bytes(16))
        return bytes(a ^ b for a, b in zip(c, ks))
    full = len(c) // 16
    if all(b == 0 for b in c):
        return bytes(len(c))
    p = bytearray(Cipher(algorithms.AES(key), modes.XTS(tweak(index))).decryptor().update(c))
    for b in range(full):
        if c[16 * b:16 * b + 16] == bytes(16):
            p[16 * b:16 * b + 16] = bytes(16)
    return bytes(p)


def main():
    vol = open(os.path.join(GOLDEN, ".pgcmk-volume"), "rb").read()
    assert len(vol) == 4096 and vol[:8] == b"PGCMKVOL", "volume magic"
    assert int.from_bytes(vol[8:12], "little") == 1 and int.from_bytes(vol[12:16], "little") == UNIT
    vid = vol[16:32]
    assert hkdf(DEK, vid, b"pgcmk-fs v1 key check", 32) == vol[32:64], "key check value"
    assert vol[64:] == bytes(4096 - 64)
    root = hkdf(DEK, vid, b"pgcmk-fs v1 file keys", 32)

    pattern = bytes((i * 7 + 3) & 0xFF for i in range(2 * UNIT + 100))
    expected = {
        "PG_VERSION": b"15\n",
        "fifteen": b"fifteen bytes!!",
        "units": pattern,
        "sparse": bytes(3 * UNIT) + b"after three holes..",
    }
    for name, want in expected.items():
        raw = open(os.path.join(GOLDEN, name), "rb").read()
        assert raw[:8] == b"PGCMKFIL", name
        assert int.from_bytes(raw[8:12], "little") == 1 and int.from_bytes(raw[12:16], "little") == UNIT
        fid = raw[16:32]
        okm = hkdf(root, fid, b"pgcmk-fs v1 file", 80)
        assert okm[64:80] == raw[32:48], name + ": header check"
        assert raw[48:4096] == bytes(4096 - 48)
        data = raw[4096:]
        plain = b"".join(decrypt_unit(okm[:64], i, data[i * UNIT:(i + 1) * UNIT])
                         for i in range((len(data) + UNIT - 1) // UNIT))
        assert plain == want, name + ": plaintext differs"
        print("ok", name, len(plain), "bytes")


main()
