"""Record layer: header codec, AEAD protection, replay window, epochs and sequence numbers."""
