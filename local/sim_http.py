"""What the local simulators' HTTP servers share: a threaded server with its base URL and a clean stop,
served from a daemon thread."""

import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer


class SimServer(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def serve_in_thread[Server: SimServer](make: Callable[[], Server], what: str, thread_name: str) -> Server:
    """Bind with make() and serve in a daemon thread; a port that cannot be bound ends the process."""
    try:
        server = make()
    except OSError as error:
        raise SystemExit(f"error: cannot serve {what}: {error.strerror}") from error
    threading.Thread(target=server.serve_forever, name=thread_name, daemon=True).start()
    return server
