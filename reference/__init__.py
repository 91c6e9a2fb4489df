"""embedspec.reference: the executable specification of embedding layers."""
