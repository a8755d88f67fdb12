"""The ``flext-logging`` command-line tool: ``trace``, ``pretty`` and ``stats``.

``reading`` reads and filters logs, ``tree`` rebuilds the tree of one id, ``stats``
counts durations and errors, ``render`` draws (the only module that imports rich), and
``main`` parses the command line. Importing :mod:`flext_logging` never imports this.
"""
