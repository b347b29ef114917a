"""TLS 1.2 handshake for DTLS: messages, key schedule, key exchange, the two state machines."""
