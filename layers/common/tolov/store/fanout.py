"""Independent reads sent side by side: a statement's one Query per day, say.

DynamoDB answers each in a few milliseconds, so their sum, not any one of them, is what a long sequence
costs (366 days in sequence: about a second). The reads share the container's one DynamoDB client
(tolov.aws: thread-safe, its connection pool sized for READERS), and the results come back in the order
of the keys, whatever order the replies arrived in.
"""

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context

# Bounded: more threads than this only queue on the client's connection pool and the Lambda's vCPU.
READERS = 8


def read_all[K, T](keys: Sequence[K], read: Callable[[K], Iterable[T]], *, readers: int = READERS) -> list[T]:
    """Every key's items (read(key), consumed inside its thread), concatenated in the order of `keys`.
    The first failure is raised once every read has ended."""
    if len(keys) <= 1:
        return [item for key in keys for item in read(key)]
    # Each read in a copy of the caller's context: the invocation's deadline (tolov.aws) goes along.
    contexts = [copy_context() for _ in keys]
    with ThreadPoolExecutor(max_workers=min(readers, len(keys)), thread_name_prefix="tolov-read") as pool:
        parts = list(pool.map(lambda context, key: context.run(lambda: list(read(key))), contexts, keys))
    return [item for part in parts for item in part]
