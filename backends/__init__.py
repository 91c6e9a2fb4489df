"""embedspec.backends: implementations checked against the reference."""

from embedspec.backends.contract import (
    DEVICES,
    DTYPES,
    FEATURES,
    MULTI_PROCESS_FEATURES,
    Availability,
    Backend,
    BuildContext,
    Capabilities,
    Capability,
    dtype_name,
    single_process_features,
)

__all__ = [
    "DEVICES",
    "DTYPES",
    "FEATURES",
    "MULTI_PROCESS_FEATURES",
    "Availability",
    "Backend",
    "BuildContext",
    "Capabilities",
    "Capability",
    "dtype_name",
    "single_process_features",
]
