"""Local containers: one request at a time each, a new (cold) one for a request that finds all busy."""

import threading

from local.runtime import Containers
from tests.support import together


def test_calls_one_after_another_reuse_the_warm_container() -> None:
    started: list[int] = []
    containers = Containers("c1", lambda n: started.append(n) or f"c{n}")
    seen = []
    for _ in range(3):
        with containers.container() as (container, cold):
            seen.append((container, cold))
    assert seen == [("c1", True), ("c1", False), ("c1", False)] and started == []


def test_concurrent_calls_never_share_a_container() -> None:
    inside: set[str] = set()
    lock = threading.Lock()
    clashes: list[str] = []
    containers: Containers[str] = Containers("c1", lambda n: f"c{n}")

    def request() -> tuple[str, bool]:
        with containers.container() as (container, cold):
            with lock:
                if container in inside:
                    clashes.append(container)
                inside.add(container)
            threading.Event().wait(0.05)
            with lock:
                inside.discard(container)
            return container, cold

    results = together([request] * 4)
    assert clashes == []
    assert sorted(c for c, _ in results) == ["c1", "c2", "c3", "c4"]
    assert all(cold for _, cold in results)  # every container's first request


def test_at_the_limit_a_request_waits_for_a_free_container() -> None:
    containers: Containers[str] = Containers("c1", lambda n: f"c{n}", limit=2)
    results = together([lambda: _hold(containers)] * 4)
    assert sorted(set(results)) == ["c1", "c2"]


def test_a_container_that_fails_to_start_frees_its_place() -> None:
    attempts: list[int] = []

    def start(n: int) -> str:
        attempts.append(n)
        raise RuntimeError("init failed")

    containers: Containers[str] = Containers("c1", start, limit=2)
    with containers.container():
        for _ in range(2):
            try:
                with containers.container():
                    raise AssertionError("no container should start")
            except RuntimeError:
                pass
    assert attempts == [2, 2]


def _hold(containers: Containers[str]) -> str:
    with containers.container() as (container, _):
        threading.Event().wait(0.05)
        return container
