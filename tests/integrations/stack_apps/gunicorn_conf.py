"""A gunicorn config file (``-c``) that makes the master log through flext-logging too.

gunicorn reads it in the master before it sets up its own logging; without
``--preload`` the master never imports the application, so this is where it
configures. The workers' ``configure()`` (the application's, at import) replaces it.
"""

from flext_logging import configure

configure(service_name="stack-master")
