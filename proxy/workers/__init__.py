"""All cores serve: ``--workers N`` runs N worker processes behind one port (``SO_REUSEPORT``).

``supervisor`` reserves the ports, starts and restarts the workers and forwards signals;
``server`` is the node-local coordinator the workers share a fill through (without Redis);
``client`` is the workers' side of it (the ``Coordinator`` port); ``worker`` wires a worker
process; ``env`` is how the supervisor tells a worker who it is.
"""
