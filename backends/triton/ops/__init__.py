"""The Triton kernels registered as torch operators (``torch.library.triton_op``), with
autograd, and :class:`~.bundle.TritonOps`, the set of operators a layer computes with."""
