"""Running work on other threads without losing the context of the code that asked for it.

A thread starts with an empty ``contextvars`` context, so a pool worker would log
without the correlation of the request that submitted the work.
:class:`ContextThreadPoolExecutor` captures the submitter's context on every
``submit``/``map``; ``FlextContext.Utilities.propagate`` does the same for a single
callable (a ``threading.Thread`` target, ``loop.run_in_executor``).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from flext_logging.context import FlextContext

__all__ = ["ContextThreadPoolExecutor"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in a copy of their submitter's context.

    A drop-in replacement: same constructor, same methods. What a task sets in its
    context stays in that task; the submitter's context is never changed. Also usable
    as the default executor of an event loop (``loop.set_default_executor``).
    """

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Schedule ``fn(*args, **kwargs)`` to run in a copy of the current context."""
        run = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return super().submit(run)

    def map(
        self,
        fn: Callable[..., _T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        **options: Any,
    ) -> Iterator[_T]:
        """Like ``Executor.map``; every call runs in a copy of the context current now.

        Further keyword options of newer Pythons (``buffersize``) are passed through.
        """
        return super().map(
            FlextContext.Utilities.propagate(fn),
            *iterables,
            timeout=timeout,
            chunksize=chunksize,
            **options,
        )
