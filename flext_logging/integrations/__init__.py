"""Framework and client integrations, one module each, every one an optional extra.

Import the module you need (``flext_logging.integrations.asgi``, ``.wsgi``, ``.httpx``,
``.requests``, ...); this package imports none of them, so no framework is loaded
unless you ask for it.
"""
