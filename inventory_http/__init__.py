"""The reference HTTP API of inventory-core (Falcon, WSGI) and the ``inventory`` command.

Build the app with :func:`inventory_http.app.create_app`; nothing is created at import time.
"""
