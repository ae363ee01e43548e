"""The dense models: one registry of encoders, each bundled model run by one ONNX engine
whose graph is written once to the user's cache (e5's large build calls on a CPU with
native bfloat16 go to torch instead, ``e5_bulk``: the same weights, ~3x less CPU per
token), and a pool that loads each model once per process. Knows nothing of notes,
indexes or ranking."""
