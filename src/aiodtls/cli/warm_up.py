"""The CLI's warm-up: the first use of what a handshake needs, made before the first datagram.

Owns :func:`warm_up_crypto`, which ``aiodtls client`` and ``aiodtls server`` call once their
configuration is complete. A command that makes or serves one handshake right after it starts
would otherwise pay one-time set-up between receiving the peer's flight and answering it:
OpenSSL looks up each algorithm's implementation on its first use (about 1 ms of CPU for a
first signature or chain verification on this project's machines, 0.03-0.1 ms for a first
HMAC, hash or AEAD key), and the library's own first calls build what it then reuses.

Every step works on throwaway inputs (a fixed message, all-zero keys, a made-up signature) or
on the configuration's own public material (our key signs a fixed message; a trust anchor is
checked as if a peer had sent it), keeps nothing and sends nothing, and a failure is ignored:
the handshake itself decides, with every check it always makes. This is the CLI's business,
not the library's: a long-running server pays these first uses once anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..alerts import Alert, AlertDecryptError, AlertIllegalParameter
from ..configuration import DtlsConfiguration
from ..handshake import certificates, keyschedule, signatures
from ..handshake.cookie import CookieSecrets
from ..handshake.keyexchange import EphemeralKey
from ..record.protection import new_protection
from ..suites import suite_info

__all__ = ["warm_up_crypto"]

_MESSAGE = b"aiodtls: first use of the handshake's algorithms"
_NOBODY = ("192.0.2.1", 1)
"An address of the documentation range (RFC 5737), for the throwaway cookie."


def warm_up_crypto(config: DtlsConfiguration) -> None:
    """Make, before the first datagram, the first uses of the algorithms a handshake needs.

    Our key signs a fixed message and checks the signature; a made-up signature is checked
    (and refused) with a trust anchor's key, as a peer's signature will be; a trust anchor's
    self-signature is checked, and the anchor goes through the peer certificate checks as if
    a peer had sent it (the verdict is dropped); one ECDHE exchange of our preferred group is
    made; each allowed DTLS 1.2 suite's PRF, transcript hash and AEAD run on zero inputs; a
    server makes and checks one cookie under a throwaway secret. Nothing is kept or sent, the
    configuration is not changed, and a failure is ignored.
    """
    for step in _STEPS:
        _attempt(step, config)


def _attempt(step: Callable[[DtlsConfiguration], None], config: DtlsConfiguration) -> None:
    """Run one step; a failure is ignored (an unusual key or configuration: the handshake
    decides). Each step expects its own refusals, so only the unexpected lands here."""
    with contextlib.suppress(Exception):
        step(config)


def _our_key(config: DtlsConfiguration) -> None:
    """The first private and public operation of our key."""
    key = config.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        signature = key.sign(_MESSAGE, pss, hashes.SHA256())
        key.public_key().verify(signature, _MESSAGE, pss, hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        ecdsa = ec.ECDSA(hashes.SHA256())
        signature = key.sign(_MESSAGE, ecdsa)
        key.public_key().verify(signature, _MESSAGE, ecdsa)


def _anchor_signature(config: DtlsConfiguration) -> None:
    """A trust anchor's check of its own signature (how CA signatures are checked)."""
    for anchor in config.ca_certificates[:1]:
        with contextlib.suppress(ValueError, TypeError, InvalidSignature):  # not self-signed
            anchor.verify_directly_issued_by(anchor)


def _peer_signature(config: DtlsConfiguration) -> None:
    """A made-up signature verified (and refused) with a trust anchor's key under the first
    of our signature schemes that fits it, as the peer's handshake signature will be."""
    for anchor in config.ca_certificates[:1]:
        key = anchor.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            made_up = b"\x01" * ((key.key_size + 7) // 8)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            made_up = encode_dss_signature(1, 1)
        else:
            continue
        for scheme in config.signature_schemes:
            try:
                signatures.verify(key, scheme, [scheme], made_up, _MESSAGE)
            except AlertDecryptError:  # checked, and refused: the algorithm is warm
                break
            except AlertIllegalParameter:  # this scheme does not fit the key: the next one
                continue


def _peer_chain(config: DtlsConfiguration) -> None:
    """The trust anchor through :func:`~aiodtls.handshake.certificates.check_peer_certificates`
    as if the peer had sent it: parsing, key sizes, validity, path validation and, on a
    client, the server name all run; whatever they decide is dropped (nothing of it is kept,
    the real chain gets every check). Skipped when an application ``verify_callback`` is
    set, which must only ever see real peers' chains, and when nothing is verified."""
    if config.verify_callback is not None or config.effective_verify_mode() == ssl.CERT_NONE:
        return
    for anchor in config.ca_certificates[:1]:
        der = anchor.public_bytes(serialization.Encoding.DER)
        with contextlib.suppress(Alert):  # refused (not for this name, say): no matter
            certificates.check_peer_certificates([der], config, peer_is_server=config.is_client)


def _key_exchange(config: DtlsConfiguration) -> None:
    """One ECDHE exchange in our preferred group, through the handshake's own key class."""
    for group in config.groups[:1]:
        ours, theirs = EphemeralKey(group), EphemeralKey(group)
        ours.exchange(theirs.public_bytes())


def _key_schedule(config: DtlsConfiguration) -> None:
    """Each allowed DTLS 1.2 suite's transcript hash and PRF (HMAC) on zero inputs."""
    infos = {suite_info(suite) for suite in config.effective_cipher_suites()}
    for algorithm in {info.prf_hash for info in infos}:
        transcript = hashlib.new(algorithm().name, _MESSAGE)
        session_hash = transcript.copy().digest()
        master = keyschedule.compute_master_secret(
            algorithm(),
            bytes(48),
            session_hash=session_hash,
            client_random=bytes(32),
            server_random=bytes(32),
        )
        keyschedule.derive_key_block(algorithm(), master, bytes(32), bytes(32), 16, 4)
        keyschedule.compute_finished(
            algorithm(), master, from_client=True, handshake_hash=session_hash
        )


def _records(config: DtlsConfiguration) -> None:
    """The AEAD of each allowed DTLS 1.2 suite seals and opens one record under a zero key."""
    for aead in {suite_info(suite).aead for suite in config.effective_cipher_suites()}:
        protection = new_protection(aead, bytes(aead.key_length), bytes(aead.fixed_iv_length))
        record = protection.seal(bytes(8), 22, 0xFEFD, _MESSAGE)
        protection.open(bytes(8), 22, 0xFEFD, record)


def _cookie(config: DtlsConfiguration) -> None:
    """A server's first cookie: made and checked under a throwaway secret."""
    if not config.is_client:
        secrets = CookieSecrets(secret=bytes(32))
        secrets.check(_NOBODY, secrets.make(_NOBODY, _MESSAGE, 0.0), _MESSAGE, 0.0)


_STEPS: tuple[Callable[[DtlsConfiguration], None], ...] = (
    _our_key,
    _anchor_signature,
    _peer_signature,
    _peer_chain,
    _key_exchange,
    _key_schedule,
    _records,
    _cookie,
)
"The warm-up, in order."
