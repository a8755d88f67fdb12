"""The ``flext-logging`` command-line tool: ``requests``, ``trace``, ``pretty`` and ``stats``.

From the bottom up: ``fields`` (which field of any JSON dialect means what), ``times``
(timestamps as instants), ``filters`` (``--where``, ``--since``, ``--until``),
``search`` (the multi-needle search of mapped files, in worker processes), ``reading``
(sources, bounded lines, records normalized to our schema), ``tree`` (the whole tree of
one id), ``stats`` and ``listing`` (counting, and the root requests), ``progress``
(the bar of a long read, which imports rich only to draw it), ``plain`` (safe text,
the lines of the tree, and the tree written to a pipe or a file without rich),
``render`` (the only other module that imports rich), and ``main`` (the command line,
which starts ``trace``'s search before it even builds its parser). Importing
:mod:`flext_logging` never imports this.
"""
