"""The lab: training (PyTorch), data synthesis, benchmarks, export and quantization.

Nothing in the product (``blurvid`` outside ``blurvid.lab``) imports this package; a test
enforces it, so inference never needs PyTorch or the synthesizer.
"""
