"""CUDA kernels (placeholder until written)."""
import torch

def register_if_available() -> tuple[str, ...]:
    if not torch.cuda.is_available():
        return ()
    return ()
