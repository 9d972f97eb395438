"""Derived artifacts: outputs of a recipe applied to source blobs on a target, built once per cluster."""
