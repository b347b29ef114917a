"""The crypto floor of ``aiodtls bench``: exactly the ``cryptography`` (and ``hmac``) calls
that one handshake or one record needs, both sides, with no protocol around them.

Owns what "the floor" means, call by call: the cookie's two HMACs; the ECDHE key pairs, their
encodings and the two exchanges; the server's signature over its key exchange and the
client's verification of it with the key parsed from the certificate; the extended master
secret, key block and both Finished of each side (TLS 1.2 PRF with one-shot HMACs over a
running transcript hash); the two Finished records sealed and opened. A resumed handshake
keeps the cookie, the key block and the Finished. A record is one AES-128-GCM seal and one
open. Nothing here reads a clock.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..suites import NamedGroup
from .peers import PSK_KEY, RECORD_HEADER, Kind, credentials

__all__ = ["handshake_floor", "records_floor", "resumed_floor"]


def _prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.2 PRF with SHA-256 (RFC 5246 §5), one-shot HMACs: its bare cost."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.digest(secret, a, "sha256")
        out += hmac.digest(secret, a + seed, "sha256")
    return out[:length]


def _key_schedule_and_finished(premaster: bytes, transcript: bytes, resumed: bool) -> None:
    """Both sides' master secret (EMS), key block, AEAD keys and Finished (each side computes
    its own and checks the peer's), and the two Finished records sealed and opened."""
    running = hashes.Hash(hashes.SHA256())
    running.update(transcript)
    randoms = os.urandom(64)
    aeads = []
    for _ in range(2):  # client, server
        if resumed:
            master = premaster
        else:
            session_hash = running.copy().finalize()
            master = _prf(premaster, b"extended master secret", session_hash, 48)
        block = _prf(master, b"key expansion", randoms, 40)
        aeads.append((AESGCM(block[:16]), AESGCM(block[16:32])))
        for label in (b"client finished", b"server finished"):
            _prf(master, label, running.copy().finalize(), 12)
    (client_write, client_read), (server_read, server_write) = aeads
    aad, nonce = bytes(RECORD_HEADER), bytes(12)
    server_read.decrypt(nonce, client_write.encrypt(nonce, bytes(16), aad), aad)
    client_read.decrypt(nonce, server_write.encrypt(nonce, bytes(16), aad), aad)


def _cookie() -> None:
    secret = b"\x01" * 32
    for _ in range(2):  # made for the first ClientHello, checked on the second
        hmac.digest(secret, bytes(100), "sha256")


def handshake_floor(kind: Kind, *, cookie: bool = True) -> Callable[[], None]:
    """One handshake's crypto calls, both sides: cookie (unless ``cookie`` is False), ECDHE,
    signature, key schedule."""
    transcript = bytes(600 if kind.key == "psk" else 1500)
    if kind.key == "psk":
        premaster = bytes(2) + PSK_KEY + bytes(2) + PSK_KEY  # RFC 4279 §2 layout
        leaf_der = b""
    else:
        chain = credentials(kind.key)
        leaf_der = chain.leaf.public_bytes(serialization.Encoding.DER)
        server_key = chain.key
        premaster = b""

    def exchange() -> bytes:
        if kind.group == NamedGroup.x25519:
            a, b = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
            a_pub = a.public_key().public_bytes_raw()
            b_pub = b.public_key().public_bytes_raw()
            b.exchange(x25519.X25519PublicKey.from_public_bytes(a_pub))
            return a.exchange(x25519.X25519PublicKey.from_public_bytes(b_pub))
        c, s = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        point = serialization.PublicFormat.UncompressedPoint
        c_pub = c.public_key().public_bytes(serialization.Encoding.X962, point)
        s_pub = s.public_key().public_bytes(serialization.Encoding.X962, point)
        curve = ec.SECP256R1()
        s.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, c_pub))
        return c.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, s_pub))

    def one() -> None:
        if cookie:
            _cookie()
        secret = premaster
        if kind.key != "psk":
            secret = exchange()
            params = os.urandom(64 + 70)  # randoms and ServerECDHParams, signed
            public = x509.load_der_x509_certificate(leaf_der).public_key()
            if isinstance(server_key, rsa.RSAPrivateKey):
                pss = padding.PSS(padding.MGF1(hashes.SHA256()), hashes.SHA256().digest_size)
                signature = server_key.sign(params, pss, hashes.SHA256())
                assert isinstance(public, rsa.RSAPublicKey)
                public.verify(signature, params, pss, hashes.SHA256())
            else:
                signature = server_key.sign(params, ec.ECDSA(hashes.SHA256()))
                assert isinstance(public, ec.EllipticCurvePublicKey)
                public.verify(signature, params, ec.ECDSA(hashes.SHA256()))
        _key_schedule_and_finished(secret, transcript, resumed=False)

    return one


def resumed_floor() -> None:
    """One resumed handshake's crypto calls: cookie, key block, Finished, nothing else."""
    _cookie()
    _key_schedule_and_finished(os.urandom(48), bytes(400), resumed=True)


def records_floor(payload: bytes) -> Callable[[int], None]:
    """``n`` records' crypto: one AES-128-GCM seal and one open each."""
    aead = AESGCM(os.urandom(16))
    aad, nonce = bytes(RECORD_HEADER), bytes(12)

    def run(n: int) -> None:
        for _ in range(n):
            aead.decrypt(nonce, aead.encrypt(nonce, payload, aad), aad)

    return run
