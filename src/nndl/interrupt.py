"""SIGINT during a run, remembered: a Ctrl-C that a library swallows still stops the run.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be. When that is
inside a `__del__` (Ultralytics' InfiniteDataLoader) or an `except Exception` of a library, the
exception is printed or dropped and the training goes on: the run would end "complete" although
the user asked it to stop. `catching()` records every SIGINT while a study runs; `check()` (called
by the training loop after each epoch, by wrappers of foreign trainers, and once the study
returns) raises the KeyboardInterrupt again, so the run stops as `interrupted` and resumes. An
error that a library raised in place of the KeyboardInterrupt (safetensors reading a file gives
a ValueError) leaves `catching()` as the KeyboardInterrupt it was.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_seen = {"sigint": False}


def check() -> None:
    """Raise KeyboardInterrupt if a SIGINT arrived during this run, even one that was swallowed."""
    if _seen["sigint"]:
        raise KeyboardInterrupt


@contextlib.contextmanager
def catching():
    """Within: a SIGINT raises KeyboardInterrupt as usual and is also remembered for `check()`."""
    _seen["sigint"] = False
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (an in-process test)
        return

    def handler(signum, frame):
        _seen["sigint"] = True
        if not _in_finalizer(frame):  # there Python would print a traceback and drop it
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    except Exception as e:
        if _seen["sigint"]:  # a library turned the Ctrl-C into its own error (safetensors:
            raise KeyboardInterrupt from e  # ValueError): the run was interrupted, not failed
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        _seen["sigint"] = False


def _in_finalizer(frame) -> bool:
    """True inside a `__del__`, where an exception is printed as 'Exception ignored' and lost."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False
