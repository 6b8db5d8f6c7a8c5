"""Image hashing: safe decoding of uploads, PDQ perceptual hashes and file digests."""
