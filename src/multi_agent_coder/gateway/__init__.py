"""The model gateway: the sandboxed agent's only route out (routes.py pure, server.py I/O)."""
