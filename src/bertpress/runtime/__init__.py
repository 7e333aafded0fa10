"""Running exported models (ONNX Runtime, OpenVINO) behind one interface, and the backend table.

``backends`` is the one list of ways bertpress runs a model; ``loading.load_any`` decides whether
a folder runs on a runtime or in PyTorch. Writing exported files is ``export``'s business.
"""
