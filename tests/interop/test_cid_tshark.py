"""Connection IDs read by an independent implementation: tshark (issue 12; I1–I4).

No DTLS peer on this machine or in Debian bookworm speaks RFC 9146 for DTLS 1.2: OpenSSL 3.0
has no connection IDs, GnuTLS 3.7.9 neither, Debian's libwolfssl 5.5.4 is built without
``WOLFSSL_DTLS_CID`` (and 5.5.4 has CIDs for DTLS 1.3 only), and Debian's Mbed TLS 2.28.3
leaves ``MBEDTLS_SSL_DTLS_CONNECTION_ID`` off (and 2.28 implements the pre-RFC draft,
extension 254). So the check is Wireshark's dissector, which implements RFC 9146 (extension
54, the §5.3 additional data): an aiodtls client and server run a CID session with
application data over loopback, the client's socket writes every datagram it sends and
receives to a pcap, and ``tshark`` with the key log must show the CIDs both sides chose and
decrypt the application data, which it can only do if its AAD is ours, byte for byte.
"""

from __future__ import annotations

import asyncio
import io
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiodtls import DtlsConnection, HandshakeCompleted
from aiodtls.asyncio import DtlsSession, connect, serve
from aiodtls.asyncio.session import DtlsProtocol
from pairs import psk_configs12

pytestmark = pytest.mark.interop

Address = tuple[str, int]
UP = b"hello through a connection ID"
DOWN = b"and back again"


def write_pcap(path: Path, datagrams: list[tuple[Address, Address, bytes]]) -> None:
    """A classic pcap of raw IPv4/UDP packets (LINKTYPE_RAW), one per datagram."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for index, (src, dst, data) in enumerate(datagrams):
            udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0) + data  # no checksum
            header = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                index,
                0x4000,
                64,
                17,
                0,
                bytes(int(b) for b in src[0].split(".")),
                bytes(int(b) for b in dst[0].split(".")),
            )
            total = sum(struct.unpack("!10H", header))
            while total >> 16:
                total = (total & 0xFFFF) + (total >> 16)
            header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
            packet = header + udp
            out.write(struct.pack("<IIII", index, 0, len(packet), len(packet)) + packet)


def capturing_protocol(
    captured: list[tuple[Address, Address, bytes]],
) -> Callable[[DtlsConnection], DtlsProtocol]:
    """A client protocol that records every datagram its socket sends and receives."""

    class Capturing(DtlsProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            local: Address = transport.get_extra_info("sockname")
            remote: Address = transport.get_extra_info("peername")
            sendto = transport.sendto  # type: ignore[attr-defined]

            def send(data: bytes, addr: Any = None) -> None:
                captured.append((local, remote, bytes(data)))
                sendto(data, addr)

            transport.sendto = send  # type: ignore[attr-defined]
            self._local = local
            super().connection_made(transport)

        def datagram_received(self, data: bytes, addr: Address) -> None:
            captured.append((addr, self._local, bytes(data)))
            super().datagram_received(data, addr)

    return Capturing


def run_session(client_cid: int, server_cid: int) -> tuple[list[Any], str, HandshakeCompleted]:
    captured: list[tuple[Address, Address, bytes]] = []
    client_cfg, server_cfg = psk_configs12(connection_id_length=server_cid)
    client_cfg.connection_id_length = client_cid
    key_log = io.StringIO()
    client_cfg.key_log = key_log

    async def echo_down(session: DtlsSession) -> None:
        async for data in session:
            assert data == UP
            session.send(DOWN)

    async def main() -> HandshakeCompleted:
        server = await serve("127.0.0.1", 0, configuration=server_cfg, handler=echo_down)
        try:
            async with connect(
                "127.0.0.1",
                server.address[1],
                configuration=client_cfg,
                create_protocol=capturing_protocol(captured),
            ) as session:
                session.send(UP)
                assert await session.recv(5.0) == DOWN
                return session.handshake
        finally:
            server.close()
            await server.wait_closed()

    completed = asyncio.run(main())
    return captured, key_log.getvalue(), completed


def tshark_fields(
    tshark: str, pcap: Path, port: int, key_log: Path | None, *fields: str
) -> list[list[str]]:
    command = [tshark, "-r", str(pcap), "-d", f"udp.port=={port},dtls", "-T", "fields"]
    command += ["-E", "separator=|"]
    if key_log is not None:
        command += ["-o", f"tls.keylog_file:{key_log}"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
    return [line.split("|") for line in out.stdout.splitlines()]


@pytest.mark.parametrize(("client_cid", "server_cid"), [(4, 5), (0, 8), (3, 0)])
def test_tshark_shows_the_cids_and_decrypts_the_session(
    client_cid: int,
    server_cid: int,
    require_binary: Callable[[str], str],
    tmp_path: Path,
) -> None:  # I1, I2, I3, I4
    tshark = require_binary("tshark")
    captured, key_log, completed = run_session(client_cid, server_cid)
    assert completed.connection_id is not None and completed.peer_connection_id is not None
    server_port = captured[0][1][1]
    pcap, keys = tmp_path / "cid.pcap", tmp_path / "keys.log"
    write_pcap(pcap, captured)
    keys.write_text(key_log)
    rows = tshark_fields(
        tshark,
        pcap,
        server_port,
        keys,
        "udp.srcport",
        "dtls.connection_id",
        "dtls.record.content_type",
        "dtls.record.connection_id",
        "data.data",
    )
    assert len(rows) == len(captured)
    # The hellos carry connection_id (54) with the CIDs each side chose (empty ones too).
    hello_cids = {cid for _, cid, _, _, _ in rows if cid}
    for cid in (completed.connection_id, completed.peer_connection_id):
        if cid:
            assert cid.hex() in hello_cids
    # Protected records to a side that asked for a non-empty CID carry it, and only those.
    record_cids = {
        (int(port) == server_port, cid)
        for port, _, _, cid_field, _ in rows
        for cid in cid_field.split(",")
        if cid
    }
    expected = set()
    if completed.peer_connection_id:  # what we (the client) send to the server
        expected.add((False, completed.peer_connection_id.hex()))
    if completed.connection_id:
        expected.add((True, completed.connection_id.hex()))
    assert record_cids == expected
    # tshark decrypts the application data both ways: its RFC 9146 AAD is ours.
    plaintext = [bytes.fromhex(data) for *_, data in rows if data]
    assert plaintext == [UP, DOWN]
    # Without the key log it sees the CIDs but none of the plaintext.
    blind = tshark_fields(tshark, pcap, server_port, None, "data.data")
    assert all(not data for (data,) in blind)
