"""The dense models: one registry of encoders, each bundled model run by one ONNX engine
whose graph is written once to the user's cache, and a pool that loads each model once per
process. Knows nothing of notes, indexes or ranking."""
