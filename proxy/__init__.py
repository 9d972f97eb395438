"""Model Manager server core: storage, index, fills and serving.

This package is protocol-neutral: it never imports ``adapters``. The composition root
``proxy.__main__`` is the one module allowed to import both sides.
"""

__version__ = "0.1.0"
