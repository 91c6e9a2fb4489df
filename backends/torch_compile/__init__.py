"""The ``torch_compile`` backend: ``torch.compile`` (inductor) of plain ``torch.nn.Embedding``."""

from embedspec.backends.torch_compile.backend import TorchCompileBackend

__all__ = ["TorchCompileBackend"]
