"""A ``numba.get_num_threads()`` that numba can keep in its on-disk cache (imported only after
``configure_numba_cache``; see ``projection._cache_kernels``).

In nopython code numba's own ``get_num_threads()`` is lowered to a call through an address known only
in the running process, so numba refuses to cache any kernel that calls it ("uses dynamic globals").
This one asks the same question from object mode, once per call of the kernel (microseconds), and
returns the same number: the threads numba would use in the calling thread.
"""

from __future__ import annotations

import types

import numba


@numba.njit(cache=True)
def get_num_threads():
    with numba.objmode(n="intp"):
        n = numba.get_num_threads()
    return n


def numba_module_shim() -> types.ModuleType:
    """A stand-in for the ``numba`` module in a kernel's globals: numba's attributes, with the
    cacheable ``get_num_threads``."""
    shim = types.ModuleType("numba")
    shim.__dict__.update(numba.__dict__)
    shim.get_num_threads = get_num_threads
    return shim
