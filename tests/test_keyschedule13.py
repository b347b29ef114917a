"""Tests for aiodtls.handshake.keyschedule13: the TLS 1.3 key schedule as DTLS 1.3 uses it.

Known answers are RFC 8448's traces, run with the ``"tls13 "`` prefix: §3 "Simple 1-RTT
Handshake" (every secret, key, IV and finished key it lists) and §4 "Resumed 0-RTT Handshake"
(resumption PSK from the ticket nonce, PSK early secret, binder key and its finished key,
binder, client early traffic and early exporter secrets, the early key and IV). DTLS 1.3's
``"dtls13"`` prefix (RFC 9147 §5.9) has no published vectors: it is checked byte for byte on
the HkdfLabel it builds and, end to end, by changing every value the same inputs derive.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes

from aiodtls.handshake.keyschedule13 import (
    DTLS13_LABEL_PREFIX,
    TLS13_LABEL_PREFIX,
    KeySchedule13,
    KeyScheduleStageError,
    TrafficKeys,
    derive_secret,
    empty_transcript_hash,
    export_keying_material,
    finished_key,
    finished_matches,
    finished_verify_data,
    hkdf_expand_label,
    hkdf_label,
    next_traffic_secret,
    resumption_psk,
    traffic_keys,
)

SHA256 = hashes.SHA256()


def h(text: str) -> bytes:
    """Bytes from hex as RFC 8448 prints it (spaces and line breaks allowed)."""
    return bytes.fromhex(text)


# RFC 8448 §3, Simple 1-RTT Handshake (TLS_AES_128_GCM_SHA256, x25519).
EARLY_SECRET = h(
    "33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 "
    "10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a"
)
DERIVED_FOR_HANDSHAKE = h(
    "6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 "
    "16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 11 ba"
)
ECDHE = h(
    "8b d4 05 4f b5 5b 9d 63 fd fb ac f9 f0 4b 9f 0d "
    "35 e6 d6 3f 53 75 63 ef d4 62 72 90 0f 89 49 2d"
)
HANDSHAKE_SECRET = h(
    "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 "
    "04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac"
)
SERVER_HELLO_HASH = h(
    "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed "
    "d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8"
)
C_HS_TRAFFIC = h(
    "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f "
    "3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21"
)
S_HS_TRAFFIC = h(
    "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 "
    "e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38"
)
DERIVED_FOR_MASTER = h(
    "43 de 77 e0 c7 77 13 85 9a 94 4d b9 db 25 90 b5 "
    "31 90 a6 5b 3e e2 e4 f1 2d d7 a0 bb 7c e2 54 b4"
)
MASTER_SECRET = h(
    "18 df 06 84 3d 13 a0 8b f2 a4 49 84 4c 5f 8a 47 "
    "80 01 bc 4d 4c 62 79 84 d5 a4 1d a8 d0 40 29 19"
)
SERVER_FINISHED_HASH = h(
    "96 08 10 2a 0f 1c cc 6d b6 25 0b 7b 7e 41 7b 1a "
    "00 0e aa da 3d aa e4 77 7a 76 86 c9 ff 83 df 13"
)
C_AP_TRAFFIC = h(
    "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 "
    "87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5"
)
S_AP_TRAFFIC = h(
    "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 "
    "82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43"
)
EXP_MASTER = h(
    "fe 22 f8 81 17 6e da 18 eb 8f 44 52 9e 67 92 c5 "
    "0c 9a 3f 89 45 2f 68 d8 ae 31 1b 43 09 d3 cf 50"
)
CLIENT_FINISHED_HASH = h(
    "20 91 45 a9 6e e8 e2 a1 22 ff 81 00 47 cc 95 26 "
    "84 65 8d 60 49 e8 64 29 42 6d b8 7c 54 ad 14 3d"
)
RES_MASTER = h(
    "7d f2 35 f2 03 1d 2a 05 12 87 d0 2b 02 41 b0 bf "
    "da f8 6c c8 56 23 1f 2d 5a ba 46 c4 34 ec 19 6c"
)
C_FINISHED_KEY = h(
    "b8 0a d0 10 15 fb 2f 0b d6 5f f7 d4 da 5d 6b f8 "
    "3f 84 82 1d 1f 87 fd c7 d3 c7 5b 5a 7b 42 d9 c4"
)
S_FINISHED_KEY = h(
    "00 8d 3b 66 f8 16 ea 55 9f 96 b5 37 e8 85 c3 1f "
    "c0 68 bf 49 2c 65 2f 01 f2 88 a1 d8 cd c1 9f c8"
)
# {server} derive write traffic keys ... / {client} derive write traffic keys ...: (secret, key, iv)
TRAFFIC_KEYS = {
    "server handshake": (
        S_HS_TRAFFIC,
        h("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"),
        h("5d 31 3e b2 67 12 76 ee 13 00 0b 30"),
    ),
    "client handshake": (
        C_HS_TRAFFIC,
        h("db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01"),
        h("5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f"),
    ),
    "server application": (
        S_AP_TRAFFIC,
        h("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56"),
        h("cf 78 2b 88 dd 83 54 9a ad f1 e9 84"),
    ),
    "client application": (
        C_AP_TRAFFIC,
        h("17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51"),
        h("5b 78 92 3d ee 08 57 90 33 e5 23 d9"),
    ),
}
# The NewSessionTicket of §3 carries ticket_nonce 00 00.
TICKET_NONCE = h("00 00")

# RFC 8448 §4, Resumed 0-RTT Handshake.
RESUMPTION_PSK = h(
    "4e cd 0e b6 ec 3b 4d 87 f5 d6 02 8f 92 2c a4 c5 "
    "85 1a 27 7f d4 13 11 c9 e6 2d 2c 94 92 e1 c4 f3"
)
PSK_EARLY_SECRET = h(
    "9b 21 88 e9 b2 fc 6d 64 d7 1d c3 29 90 0e 20 bb "
    "41 91 50 00 f6 78 aa 83 9c bb 79 7c b7 d8 33 2c"
)
RES_BINDER_KEY = h(
    "69 fe 13 1a 3b ba d5 d6 3c 64 ee bc c3 0e 39 5b "
    "9d 81 07 72 6a 13 d0 74 e3 89 db c8 a4 e4 72 56"
)
C_E_TRAFFIC = h(
    "3f bb e6 a6 0d eb 66 c3 0a 32 79 5a ba 0e ff 7e "
    "aa 10 10 55 86 e7 be 5c 09 67 8d 63 b6 ca ab 62"
)
# These two §4 values were read from independent implementations' copies of the trace (the
# RFC's own text for them was not at hand); every other value here is from the RFC's text.
BINDER_FINISHED_KEY = h(
    "55 88 67 3e 72 cb 59 c8 7d 22 0c af fe 94 f2 de "
    "a9 a3 b1 60 9f 7d 50 e9 0a 48 22 7d b9 ed 7e aa"
)
E_EXP_MASTER = h(
    "b2 02 68 66 61 09 37 d7 42 3e 5b e9 08 62 cc f2 "
    "4c 0e 60 91 18 6d 34 f8 12 08 9f f5 be 2e f7 df"
)
EARLY_KEY = h("92 02 05 a5 b7 bf 21 15 e6 fc 5c 29 42 83 4f 54")
EARLY_IV = h("6d 47 5f 09 93 c8 e5 64 61 0d b2 b9")
# The ClientHello of §4 (512 octets) as sent, ending with its one binder (00 21 20 + 32 bytes).
RESUMED_CLIENT_HELLO = h(
    "010001fc03031bc3ceb6bbe39cff938355b5a50adb6db21b7a6af649d7b4bc41"
    "9d7876487d95000006130113031302010001cd0000000b000900000673657276"
    "6572ff01000100000a00140012001d0017001800190100010101020103010400"
    "3300260024001d0020e4ffb68ac05f8d96c99da26698346c6be16482badddafe"
    "051a66b4f18d668f0b002a0000002b0003020304000d0020001e040305030603"
    "020308040805080604010501060102010402050206020202002d00020101001c"
    "0002400100150057000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "2900dd00b800b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a"
    "34cb33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a98211"
    "7283f82a03a143efd3ff5dd36d64e861be7fd61d2827db279cce145077d454a3"
    "664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b"
    "3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c6"
    "21a79141ef5f7de6505e5bfbc388e93343694093934ae4d357fad6aacb002120"
    "3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d"
)


def rfc8448_schedule(prefix: bytes) -> KeySchedule13:
    """The §3 schedule run to the end with ``prefix``."""
    schedule = KeySchedule13(SHA256, prefix=prefix)
    schedule.derive_handshake(ECDHE, SERVER_HELLO_HASH)
    schedule.derive_application(SERVER_FINISHED_HASH)
    schedule.derive_resumption(CLIENT_FINISHED_HASH)
    return schedule


# -- RFC 8448 §3 ---------------------------------------------------------------------------


def test_rfc8448_simple_1rtt_secrets() -> None:
    schedule = KeySchedule13(SHA256, prefix=TLS13_LABEL_PREFIX)
    assert schedule.early_secret == EARLY_SECRET
    empty = empty_transcript_hash(SHA256)
    assert empty == hashlib.sha256(b"").digest()
    derived = derive_secret(SHA256, EARLY_SECRET, b"derived", empty, prefix=TLS13_LABEL_PREFIX)
    assert derived == DERIVED_FOR_HANDSHAKE

    schedule.derive_handshake(ECDHE, SERVER_HELLO_HASH)
    assert schedule.handshake_secret == HANDSHAKE_SECRET
    assert schedule.client_handshake_traffic_secret == C_HS_TRAFFIC
    assert schedule.server_handshake_traffic_secret == S_HS_TRAFFIC
    derived = derive_secret(SHA256, HANDSHAKE_SECRET, b"derived", empty, prefix=TLS13_LABEL_PREFIX)
    assert derived == DERIVED_FOR_MASTER

    schedule.derive_application(SERVER_FINISHED_HASH)
    assert schedule.master_secret == MASTER_SECRET
    assert schedule.client_application_traffic_secret == C_AP_TRAFFIC
    assert schedule.server_application_traffic_secret == S_AP_TRAFFIC
    assert schedule.exporter_master_secret == EXP_MASTER

    schedule.derive_resumption(CLIENT_FINISHED_HASH)
    assert schedule.resumption_master_secret == RES_MASTER


@pytest.mark.parametrize("name", sorted(TRAFFIC_KEYS))
def test_rfc8448_traffic_keys_and_ivs(name: str) -> None:
    secret, key, iv = TRAFFIC_KEYS[name]
    keys = traffic_keys(SHA256, secret, 16, 12, prefix=TLS13_LABEL_PREFIX)
    assert (keys.key, keys.iv) == (key, iv)
    assert len(keys.sn_key) == 16


def test_rfc8448_finished_keys() -> None:
    assert finished_key(SHA256, C_HS_TRAFFIC, prefix=TLS13_LABEL_PREFIX) == C_FINISHED_KEY
    assert finished_key(SHA256, S_HS_TRAFFIC, prefix=TLS13_LABEL_PREFIX) == S_FINISHED_KEY


def test_rfc8448_hkdf_labels() -> None:
    # The "info" lines of §3: HkdfLabel as RFC 8446 §7.1 serializes it.
    c_hs_info = (
        h("00 20 12 74 6c 73 31 33 20 63 20 68 73 20 74 72 61 66 66 69 63 20") + SERVER_HELLO_HASH
    )
    assert (
        hkdf_label(b"c hs traffic", SERVER_HELLO_HASH, 32, prefix=TLS13_LABEL_PREFIX) == c_hs_info
    )
    res_info = (
        h("00 20 10 74 6c 73 31 33 20 72 65 73 20 6d 61 73 74 65 72 20") + CLIENT_FINISHED_HASH
    )
    assert (
        hkdf_label(b"res master", CLIENT_FINISHED_HASH, 32, prefix=TLS13_LABEL_PREFIX) == res_info
    )
    key_info = h("00 10 09 74 6c 73 31 33 20 6b 65 79 00")
    assert hkdf_label(b"key", b"", 16, prefix=TLS13_LABEL_PREFIX) == key_info
    iv_info = h("00 0c 08 74 6c 73 31 33 20 69 76 00")
    assert hkdf_label(b"iv", b"", 12, prefix=TLS13_LABEL_PREFIX) == iv_info
    finished_info = h("00 20 0e 74 6c 73 31 33 20 66 69 6e 69 73 68 65 64 00")
    assert hkdf_label(b"finished", b"", 32, prefix=TLS13_LABEL_PREFIX) == finished_info


# -- RFC 8448 §4 ---------------------------------------------------------------------------


def test_rfc8448_resumption_psk_from_ticket_nonce() -> None:
    schedule = rfc8448_schedule(TLS13_LABEL_PREFIX)
    assert schedule.resumption_psk(TICKET_NONCE) == RESUMPTION_PSK
    assert resumption_psk(SHA256, RES_MASTER, TICKET_NONCE, prefix=TLS13_LABEL_PREFIX) == (
        RESUMPTION_PSK
    )


def test_rfc8448_resumed_0rtt_early_secrets() -> None:
    schedule = KeySchedule13(SHA256, prefix=TLS13_LABEL_PREFIX, psk=RESUMPTION_PSK)
    assert schedule.early_secret == PSK_EARLY_SECRET
    assert schedule.binder_key(external=False) == RES_BINDER_KEY

    schedule.derive_early(hashlib.sha256(RESUMED_CLIENT_HELLO).digest())
    assert schedule.client_early_traffic_secret == C_E_TRAFFIC
    assert schedule.early_exporter_master_secret == E_EXP_MASTER
    keys = traffic_keys(SHA256, C_E_TRAFFIC, 16, 12, prefix=TLS13_LABEL_PREFIX)
    assert (keys.key, keys.iv) == (EARLY_KEY, EARLY_IV)


def test_rfc8448_psk_binder_is_finished_over_the_truncated_client_hello() -> None:
    # The binder is the last 32 bytes of the §4 ClientHello; the transcript stops before the
    # binders list (2-byte length, 1-byte length, 32 bytes), RFC 8446 §4.2.11.2.
    truncated, binders = RESUMED_CLIENT_HELLO[:-35], RESUMED_CLIENT_HELLO[-35:]
    assert binders[:3] == h("00 21 20")
    schedule = KeySchedule13(SHA256, prefix=TLS13_LABEL_PREFIX, psk=RESUMPTION_PSK)
    binder = schedule.binder(
        external=False, truncated_client_hello_hash=hashlib.sha256(truncated).digest()
    )
    assert finished_key(SHA256, RES_BINDER_KEY, prefix=TLS13_LABEL_PREFIX) == BINDER_FINISHED_KEY
    assert binder == binders[3:]
    assert finished_matches(binder, binders[3:])
    assert not finished_matches(binder, bytes(32))


# -- the "dtls13" prefix (RFC 9147 §5.9): no published vectors -------------------------------


def test_dtls13_prefix_bytes() -> None:
    assert DTLS13_LABEL_PREFIX == b"\x64\x74\x6c\x73\x31\x33"  # "dtls13", no trailing space
    assert TLS13_LABEL_PREFIX == b"\x74\x6c\x73\x31\x33\x20"  # "tls13 "


def test_dtls13_hkdf_label_bytes() -> None:
    # uint16 length, then label<7..255> = "dtls13" + Label, then context<0..255>.
    expected = (
        b"\x00\x20"
        + b"\x12"
        + b"\x64\x74\x6c\x73\x31\x33"
        + b"\x63\x20\x68\x73\x20\x74\x72\x61\x66\x66\x69\x63"  # "c hs traffic"
        + b"\x20"
        + SERVER_HELLO_HASH
    )
    assert (
        hkdf_label(b"c hs traffic", SERVER_HELLO_HASH, 32, prefix=DTLS13_LABEL_PREFIX) == expected
    )
    key_info = b"\x00\x10\x09dtls13key\x00"
    assert hkdf_label(b"key", b"", 16, prefix=DTLS13_LABEL_PREFIX) == key_info
    # RFC 9147 §4.2.3: sn_key = HKDF-Expand-Label(Secret, "sn", "", key_length)
    sn_info = b"\x00\x10\x08dtls13sn\x00"
    assert hkdf_label(b"sn", b"", 16, prefix=DTLS13_LABEL_PREFIX) == sn_info
    # The label prefix is the only difference from TLS 1.3's HkdfLabel.
    tls = hkdf_label(b"c hs traffic", SERVER_HELLO_HASH, 32, prefix=TLS13_LABEL_PREFIX)
    assert tls.replace(b"tls13 ", b"dtls13", 1) == expected


def all_values(schedule: KeySchedule13) -> dict[str, bytes]:
    """Every secret and key the §3 inputs derive, by name."""
    values = {
        "early": schedule.early_secret,
        "ext binder": schedule.binder_key(external=True),
        "res binder": schedule.binder_key(external=False),
        "handshake": schedule.handshake_secret,
        "c hs": schedule.client_handshake_traffic_secret,
        "s hs": schedule.server_handshake_traffic_secret,
        "master": schedule.master_secret,
        "c ap": schedule.client_application_traffic_secret,
        "s ap": schedule.server_application_traffic_secret,
        "exp": schedule.exporter_master_secret,
        "res": schedule.resumption_master_secret,
        "psk": schedule.resumption_psk(TICKET_NONCE),
        "export": schedule.export(b"EXPORTER-test", b"context", 32),
        "c finished": finished_key(
            SHA256, schedule.client_handshake_traffic_secret, prefix=schedule.prefix
        ),
        "next c ap": next_traffic_secret(
            SHA256, schedule.client_application_traffic_secret, prefix=schedule.prefix
        ),
    }
    for name, secret in (("c hs", values["c hs"]), ("c ap", values["c ap"])):
        keys = traffic_keys(SHA256, secret, 16, 12, prefix=schedule.prefix)
        values[f"{name} key"], values[f"{name} iv"], values[f"{name} sn"] = (
            keys.key,
            keys.iv,
            keys.sn_key,
        )
    return values


def test_dtls13_prefix_changes_every_derived_value() -> None:
    tls, dtls = (
        all_values(rfc8448_schedule(TLS13_LABEL_PREFIX)),
        all_values(rfc8448_schedule(DTLS13_LABEL_PREFIX)),
    )
    assert tls["handshake"] == HANDSHAKE_SECRET  # the same inputs as the RFC 8448 trace
    # The early secret is HKDF-Extract alone, no label: the one value the prefix cannot change.
    assert tls.pop("early") == dtls.pop("early") == EARLY_SECRET
    assert tls.keys() == dtls.keys()
    same = [name for name in tls if tls[name] == dtls[name]]
    assert same == []
    assert KeySchedule13(SHA256).prefix == DTLS13_LABEL_PREFIX


def test_sha384_secrets_are_48_bytes() -> None:
    # TLS_AES_256_GCM_SHA384: every secret is Hash.length = 48 bytes, keys 32, IVs 12.
    sha384 = hashes.SHA384()
    schedule = KeySchedule13(sha384)
    schedule.derive_early(bytes(48))
    schedule.derive_handshake(bytes(range(48)), bytes(48))
    schedule.derive_application(bytes(48))
    schedule.derive_resumption(bytes(48))
    secrets = [
        schedule.early_secret,
        schedule.binder_key(external=True),
        schedule.client_early_traffic_secret,
        schedule.early_exporter_master_secret,
        schedule.handshake_secret,
        schedule.client_handshake_traffic_secret,
        schedule.server_handshake_traffic_secret,
        schedule.master_secret,
        schedule.client_application_traffic_secret,
        schedule.server_application_traffic_secret,
        schedule.exporter_master_secret,
        schedule.resumption_master_secret,
        schedule.resumption_psk(b"\x00"),
        schedule.update_client_traffic_secret(),
        finished_key(sha384, schedule.server_handshake_traffic_secret, prefix=DTLS13_LABEL_PREFIX),
        finished_verify_data(
            sha384, schedule.server_handshake_traffic_secret, bytes(48), prefix=DTLS13_LABEL_PREFIX
        ),
    ]
    assert [len(secret) for secret in secrets] == [48] * len(secrets)
    assert len(set(secrets)) == len(secrets)
    assert empty_transcript_hash(sha384) == hashlib.sha384(b"").digest()
    keys = traffic_keys(
        sha384, schedule.client_handshake_traffic_secret, 32, 12, prefix=DTLS13_LABEL_PREFIX
    )
    assert (len(keys.key), len(keys.iv), len(keys.sn_key)) == (32, 12, 32)


# -- the rest of the schedule, checked against its definition --------------------------------


def test_psk_ke_handshake_uses_zeros() -> None:
    # RFC 8446 §7.1: with no (EC)DHE (psk_ke), the handshake secret's IKM is Hash.length zeros.
    a = KeySchedule13(SHA256, psk=RESUMPTION_PSK)
    b = KeySchedule13(SHA256, psk=RESUMPTION_PSK)
    a.derive_handshake(None, SERVER_HELLO_HASH)
    b.derive_handshake(bytes(32), SERVER_HELLO_HASH)
    assert a.handshake_secret == b.handshake_secret
    assert KeySchedule13(SHA256, psk=bytes(32)).early_secret == KeySchedule13(SHA256).early_secret


def test_key_update_steps_the_application_secret() -> None:
    schedule = rfc8448_schedule(TLS13_LABEL_PREFIX)
    first = schedule.update_client_traffic_secret()
    assert first == hkdf_expand_label(
        SHA256, C_AP_TRAFFIC, b"traffic upd", b"", 32, prefix=TLS13_LABEL_PREFIX
    )
    assert schedule.client_application_traffic_secret == first
    assert schedule.update_client_traffic_secret() == next_traffic_secret(
        SHA256, first, prefix=TLS13_LABEL_PREFIX
    )
    assert schedule.server_application_traffic_secret == S_AP_TRAFFIC  # each side steps alone
    assert schedule.update_server_traffic_secret() == next_traffic_secret(
        SHA256, S_AP_TRAFFIC, prefix=TLS13_LABEL_PREFIX
    )


def test_finished_verify_data_is_hmac_of_the_transcript() -> None:
    import hmac

    data = finished_verify_data(
        SHA256, S_HS_TRAFFIC, SERVER_FINISHED_HASH, prefix=TLS13_LABEL_PREFIX
    )
    assert data == hmac.new(S_FINISHED_KEY, SERVER_FINISHED_HASH, hashlib.sha256).digest()
    other = finished_verify_data(
        SHA256, C_HS_TRAFFIC, SERVER_FINISHED_HASH, prefix=TLS13_LABEL_PREFIX
    )
    assert not finished_matches(data, other)
    assert not finished_matches(data, data[:-1])


def test_exporter_follows_rfc8446_7_5() -> None:
    schedule = rfc8448_schedule(TLS13_LABEL_PREFIX)
    label_secret = derive_secret(
        SHA256,
        EXP_MASTER,
        b"EXPORTER-test",
        hashlib.sha256(b"").digest(),
        prefix=TLS13_LABEL_PREFIX,
    )
    expected = hkdf_expand_label(
        SHA256,
        label_secret,
        b"exporter",
        hashlib.sha256(b"ctx").digest(),
        20,
        prefix=TLS13_LABEL_PREFIX,
    )
    assert schedule.export(b"EXPORTER-test", b"ctx", 20) == expected
    assert (
        export_keying_material(
            SHA256, EXP_MASTER, b"EXPORTER-test", b"ctx", 20, prefix=TLS13_LABEL_PREFIX
        )
        == expected
    )
    assert schedule.export(b"EXPORTER-test", b"", 20) != expected
    assert schedule.export(b"EXPORTER-other", b"ctx", 20) != expected


def test_external_and_resumption_binder_keys_differ() -> None:
    schedule = KeySchedule13(SHA256, psk=RESUMPTION_PSK)
    assert schedule.binder_key(external=True) != schedule.binder_key(external=False)


def test_secrets_are_asked_for_in_order() -> None:
    schedule = KeySchedule13(SHA256)
    for name in (
        "handshake_secret",
        "client_early_traffic_secret",
        "master_secret",
        "exporter_master_secret",
        "resumption_master_secret",
    ):
        with pytest.raises(KeyScheduleStageError, match=name):
            getattr(schedule, name)
    with pytest.raises(KeyScheduleStageError):
        schedule.derive_application(SERVER_FINISHED_HASH)
    with pytest.raises(KeyScheduleStageError):
        schedule.update_client_traffic_secret()
    with pytest.raises(KeyScheduleStageError):
        schedule.resumption_psk(TICKET_NONCE)
    assert schedule.stage == "early"


def test_hkdf_label_bounds() -> None:
    with pytest.raises(ValueError):
        hkdf_label(b"x" * 250, b"", 32, prefix=DTLS13_LABEL_PREFIX)
    with pytest.raises(ValueError):
        hkdf_label(b"", b"", 32, prefix=b"tls13")  # under label<7..255>
    with pytest.raises(ValueError):
        hkdf_label(b"key", bytes(256), 32, prefix=DTLS13_LABEL_PREFIX)
    with pytest.raises(ValueError):
        hkdf_label(b"key", b"", 1 << 16, prefix=DTLS13_LABEL_PREFIX)
    assert len(hkdf_label(b"x" * 249, bytes(255), 32, prefix=DTLS13_LABEL_PREFIX)) == 2 + 256 + 256


def test_secrets_stay_out_of_repr_and_str() -> None:
    schedule = rfc8448_schedule(TLS13_LABEL_PREFIX)
    keys = traffic_keys(SHA256, C_AP_TRAFFIC, 16, 12, prefix=TLS13_LABEL_PREFIX)
    shown = repr(schedule) + str(schedule) + repr(keys) + str(keys)
    assert shown.startswith("KeySchedule13(sha256, prefix=b'tls13 ', stage='resumption')")
    for secret in [*all_values(schedule).values(), keys.key, keys.iv, keys.sn_key]:
        assert secret.hex() not in shown
        assert repr(secret) not in shown
    assert repr(keys) == "TrafficKeys()"
    assert isinstance(keys, TrafficKeys)


def test_key_log_lines_are_the_way_out() -> None:
    schedule = rfc8448_schedule(TLS13_LABEL_PREFIX)
    client_random = bytes(range(32))
    schedule.update_client_traffic_secret()  # the log keeps secret _0: Wireshark steps KeyUpdates
    lines = schedule.key_log_lines(client_random)
    r = client_random.hex()
    assert lines == [
        f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {C_HS_TRAFFIC.hex()}\n",
        f"SERVER_HANDSHAKE_TRAFFIC_SECRET {r} {S_HS_TRAFFIC.hex()}\n",
        f"CLIENT_TRAFFIC_SECRET_0 {r} {C_AP_TRAFFIC.hex()}\n",
        f"SERVER_TRAFFIC_SECRET_0 {r} {S_AP_TRAFFIC.hex()}\n",
        f"EXPORTER_SECRET {r} {EXP_MASTER.hex()}\n",
    ]
    early = KeySchedule13(SHA256, psk=RESUMPTION_PSK)
    assert early.key_log_lines(client_random) == []
    early.derive_early(bytes(32))
    assert [line.split()[0] for line in early.key_log_lines(client_random)] == [
        "CLIENT_EARLY_TRAFFIC_SECRET",
        "EARLY_EXPORTER_SECRET",
    ]
