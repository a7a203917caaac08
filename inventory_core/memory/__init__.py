"""Real, thread-safe in-memory adapters (not mocks): the embedded default and the reference
semantics every other adapter is held to by the contract suite."""
