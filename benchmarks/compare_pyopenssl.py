#!/usr/bin/env python3
"""aiodtls next to pyOpenSSL, in the same process and run: handshakes/s and records/s.

A thin wrapper around ``aiodtls bench`` (``aiodtls.bench``), which measures every metric of
docs/performance.md; this keeps the two figures this script always printed: full ECDHE-ECDSA
P-256 handshakes (cookie, EMS, the group forced on both sides) and records of one size, each
next to pyOpenSSL and the crypto floor, batches interleaved, medians quoted.

    pip install pyopenssl
    python benchmarks/compare_pyopenssl.py [--size 1000] [--repetitions 15]
"""

from __future__ import annotations

import argparse

from aiodtls.bench import BenchSettings, measure_handshakes, measure_records
from aiodtls.cli.bench import print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=BenchSettings.handshakes)
    parser.add_argument("--records", type=int, default=BenchSettings.records)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=BenchSettings.repetitions)
    args = parser.parse_args()
    settings = BenchSettings(
        repetitions=args.repetitions, handshakes=args.handshakes, records=args.records
    )
    results = [
        measure_handshakes("handshake-p256", settings),
        measure_records(f"records-{args.size}", settings),
    ]
    print_table(results, settings)


if __name__ == "__main__":
    main()
