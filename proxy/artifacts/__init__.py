"""Derived artifacts: outputs of recipes applied to cached sources on a target machine."""
