#!/usr/bin/env python3
"""Pass N application-data records of one size through an established P-256 pair, both ends
in this process (the loop ``aiodtls bench --metric records-SIZE`` times), for counting
instructions per record:

    for n in 200 1200; do
      PYTHONHASHSEED=0 PYTHONPATH=<tree>/src valgrind --tool=callgrind \\
          --callgrind-out-file=cg.$n "$(python3 -c 'import sys; print(sys.executable)')" \\
          benchmarks/record_instructions.py aiodtls $n --size 1000
    done
    # instructions per record = (total of cg.1200 - total of cg.200) / 1000
    # (callgrind_annotate cg.N | grep TOTALS); start-up and the handshake cancel out.

``aiodtls``: ``aiodtls_records``; ``pyopenssl``: ``pyopenssl_records``; ``floor``: the
crypto floor (one AES-128-GCM seal and open per record). ``digest`` prints instead a SHA-256
of the records ``RecordLayer.seal_application_data`` makes under fixed keys for every AEAD,
without and with a CID, and of what the receiving layer opens from them (the wire bytes of a
tree, to compare two trees: a handshake's ECDHE keys are random, fixed keys are not).
"""

from __future__ import annotations

import argparse
import hashlib
import random


def digest(count: int) -> str:
    """SHA-256 of ``count`` records of each size 0..count-1 bytes (seeded payloads) sealed by
    one layer and opened by another, for each AEAD without and with a CID."""
    from aiodtls.record.layer import RecordLayer
    from aiodtls.record.protection import Aead, new_protection

    out = hashlib.sha256()
    rng = random.Random(13)
    for aead in Aead:
        for cid in (b"", b"\x07" * 5):
            key, iv = bytes(range(aead.key_length)), bytes(range(40, 40 + aead.fixed_iv_length))
            sender, receiver = RecordLayer(), RecordLayer()
            sender.use_connection_ids(b"", cid)
            receiver.use_connection_ids(cid, b"")
            sender.install_write(1, new_protection(aead, key, iv))
            sender.write_epoch = 1
            receiver.install_read(1, new_protection(aead, key, iv))
            for size in range(count):
                record = sender.seal_application_data(rng.randbytes(size % 1300), 1400)
                opened = receiver.open_application_datagram(record)
                if not isinstance(opened, bytes):
                    raise RuntimeError(f"{aead.name} cid={cid!r}: {opened!r}")
                out.update(record)
                out.update(opened)
    return out.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", choices=("aiodtls", "pyopenssl", "floor", "digest"))
    parser.add_argument("count", type=int)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    if args.library == "digest":
        print(digest(args.count))
        return
    from aiodtls.bench.floor import records_floor
    from aiodtls.bench.peers import (
        KINDS,
        aiodtls_configs,
        aiodtls_pair,
        aiodtls_records,
        pyopenssl_contexts,
        pyopenssl_pair,
        pyopenssl_records,
    )

    payload = bytes(range(256)) * (args.size // 256) + bytes(args.size % 256)
    kind = KINDS["p256"]
    if args.library == "aiodtls":
        client, server = aiodtls_pair(*aiodtls_configs(kind))
        aiodtls_records(client, server, args.count, payload)
    elif args.library == "pyopenssl":
        their_client, their_server = pyopenssl_pair(*pyopenssl_contexts(kind))
        pyopenssl_records(their_client, their_server, args.count, payload)
    else:
        floor = records_floor(payload)
        floor(args.count)


if __name__ == "__main__":
    main()
