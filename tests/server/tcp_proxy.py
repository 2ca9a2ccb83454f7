"""A small threaded TCP proxy that can simulate a database outage between an app and its database.

`cut()` resets every open connection (both sides) and, until `resume()`, resets each new connection as
soon as it is accepted: the client sees "connection reset" at once, as when the database host is up
but the server is down. The listening port stays bound the whole time, so `resume()` cannot lose it
to another process.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN


def _reset(sock: socket.socket) -> None:
    """Abort the connection with RST; SHUT_RD first wakes a pump thread blocked in recv()."""
    for step in (lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET),
                 lambda: sock.shutdown(socket.SHUT_RD)):
        try:
            step()
        except OSError:
            pass
    try:
        sock.close()
    except OSError:
        pass


class TcpProxy:
    """Forward 127.0.0.1:`port` to `target`; `cut()` / `resume()` take the target away and back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._is_down = False
        self._closed = False
        self.accepted = 0  # connections the app opened, including refused ones
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open) // 2

    def cut(self) -> None:
        """Reset every forwarded connection and refuse new ones until `resume()`."""
        with self._lock:
            self._is_down = True
            doomed, self._open = self._open, set()
        for sock in doomed:
            _reset(sock)

    def resume(self) -> None:
        with self._lock:
            self._is_down = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            with self._lock:
                is_down = self._is_down
            if is_down:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._is_down:  # cut() ran while we were connecting
                    _reset(client)
                    _reset(upstream)
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                was_open = source in self._open
                self._open.discard(source)
                self._open.discard(sink)
            if was_open:  # one side closed normally: close the other (a cut already reset both)
                for sock in (source, sink):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    sock.close()


@contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    try:
        yield proxy
    finally:
        proxy.close()
