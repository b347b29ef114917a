"""Reliability: flights and their retransmission timer, fragmentation, reassembly."""
