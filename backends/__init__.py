"""embedspec.backends: implementations checked against the reference."""

from embedspec.backends.contract import (
    DEVICES,
    DTYPES,
    FEATURES,
    Availability,
    Backend,
    BuildContext,
    Capabilities,
    Capability,
    dtype_name,
)

__all__ = [
    "DEVICES",
    "DTYPES",
    "FEATURES",
    "Availability",
    "Backend",
    "BuildContext",
    "Capabilities",
    "Capability",
    "dtype_name",
]
