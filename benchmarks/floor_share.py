#!/usr/bin/env python3
"""How much of a full P-256 (or PSK) handshake is the crypto floor, two ways:

    # instructions of N floor handshakes (aiodtls.bench.floor), for callgrind as in
    # handshake_profile.py: (I50 - I10) / 40 is one handshake's crypto calls alone
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=fl.$n \\
        "$(python3 -c 'import sys; print(sys.executable)')" \\
        benchmarks/floor_share.py instructions $n --kind p256

    # the time of each crypto call inside aiodtls's handshake and inside the floor
    # (cProfile, per call, µs; two rounds each, alternating)
    python3 benchmarks/floor_share.py percall --kind p256

The second shows whether the calls themselves cost the same in both places: inside a
handshake the Python work between them runs over the caches that OpenSSL's code and tables
were using.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from handshake_profile import configurations, handshake

from aiodtls.bench.floor import handshake_floor
from aiodtls.bench.peers import KINDS

CRYPTO_CALLS = ("exchange", "generate_private_key", "sign", "verify", "from_public_bytes")


def per_call(run: Callable[[], object], count: int) -> dict[str, tuple[int, float]]:
    """cProfile's own time per call (µs) of the C-level crypto calls ``count`` runs make."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        run()
    profile.disable()
    out: dict[str, tuple[int, float]] = {}
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, calls, own, _, _) in stats.items():
        if filename != "~":
            continue  # a Python function, not a C call
        for name in CRYPTO_CALLS:
            if f"'{name}'" in function or f".{name}>" in function:
                out[name] = (calls, round(own / calls * 1e6, 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("instructions", "percall"))
    parser.add_argument("count", type=int, nargs="?", default=300)
    parser.add_argument("--kind", choices=("p256", "psk"), default="p256")
    args = parser.parse_args()
    floor = handshake_floor(KINDS[args.kind], cookie=True)
    if args.what == "instructions":
        for _ in range(args.count):
            floor()
        return
    client, server = configurations("ecdsa" if args.kind == "p256" else "psk")
    for _ in range(100):  # warm both up
        handshake(client, server)
        floor()
    for _ in range(2):
        print("aiodtls handshake", per_call(lambda: handshake(client, server), args.count))
        print("crypto floor     ", per_call(floor, args.count))


if __name__ == "__main__":
    main()
