"""The notes and the index on disk: which notes are indexed, how they are cut into
sections, the crash-safe index generations (manifest, vectors, BM25, outline) and the
reader leases that protect them. Never imports ranking."""
