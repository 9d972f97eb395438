"""The built-in recipes, one module each, every one exposing ``RECIPE`` or ``RECIPES`` (see
``proxy.artifacts.recipe``): ``onnxruntime-optimize``, ``tensorrt``, ``torch-compile-cache`` and the
operator's ``command-<name>`` templates. Recipe modules import their compilers (onnxruntime, tensorrt,
torch) only inside their methods, so listing the recipes costs nothing on a node that cannot run them.
"""
