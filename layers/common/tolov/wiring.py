"""How every handler builds what it needs: once per container, at init, from the container's settings.

Lambda runs a module's top level in the init phase, before the first request is timed against the
provider's patience, so clients and cores are built there. A build that fails (a missing variable, an
unreadable value) is kept and raised again inside each request, where the handler turns it into its
protocol's reply, and is retried then, so a fixed configuration needs no new container.
"""

import contextlib
import random
from collections.abc import Callable
from threading import Lock
from typing import Any


class Wiring[T]:
    def __init__(self, build: Callable[[], T], *, eager: bool = True) -> None:
        """eager=False builds on the first get(): for what only some requests need (the billing API's
        autopay routes and their Subscribe client), so the others do not pay for it at init."""
        self._build = build
        self._lock = Lock()
        self._built: T | None = None
        if not eager:
            return
        try:
            self._built = build()
        except Exception:
            self._built = None

    def get(self) -> T:
        """What the build made; built again (and its failure raised) while it has not succeeded."""
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._build()
        return self._built

    def reset(self) -> None:
        """Build again on the next get(): for a container whose settings were changed (tests, local)."""
        with self._lock:
            self._built = None


def at_init(read: Callable[[], object]) -> None:
    """Do now, in Lambda's init phase, a read the first request would otherwise wait for (a secret every
    request needs). A failure is left to that request: it reads again, and a failure there is answered with
    its protocol's reply, as without this."""
    with contextlib.suppress(Exception):
        read()


class AwsClient:
    """The container's client of a service (tolov.aws: its one session, the time-outs of the budget), looked
    up on first use, for what only some requests call (the Click reversal queue, the autopay queue, KMS,
    EventBridge, S3). Pass `client` to use a given one (tests)."""

    def __init__(self, service: str, client: Any | None = None, *, fallback: bool = False) -> None:
        self.service = service
        self._client = client
        self._fallback = fallback  # tolov.aws's last-resort client (Click's queued Complete)

    def __call__(self) -> Any:
        if self._client is not None:
            return self._client
        from tolov import aws

        # Not kept here: tolov.aws keeps it, and remakes it if need be.
        return aws.client(self.service, fallback=self._fallback)


def reseed_after_restore() -> None:
    """With SnapStart (template parameter SnapStart) every container resumed from one snapshot would share
    `random`'s state, seeded once at init: the same backoff and scheduling jitter everywhere, so retries
    collide instead of spreading out. Seeded again from os.urandom in each container. Ids and tokens
    (uuid4, secrets) read os.urandom at each call and need nothing."""
    random.seed()


try:  # the restore hooks exist only in Lambda's Python runtimes (3.12 and later)
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
except ImportError:
    pass
else:
    register_after_restore(reseed_after_restore)
