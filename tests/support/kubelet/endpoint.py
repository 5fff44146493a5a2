"""The kubelet stand-in's client side of one registered device plugin.

After `Register`, kubelet dials `<dir>/<endpoint>`, asks for `DevicePluginOptions` and then keeps
a `ListAndWatch` stream open, replacing its device list on every message. This module does exactly
that on a background thread and reports each list (and the stream's end) through callbacks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import grpc

from hami.deviceplugin._proto import api_pb2, api_pb2_grpc

from .table import DeviceState

log = logging.getLogger(__name__)

DIAL_TIMEOUT_S = 5.0


class PluginEndpoint:
    """A connection to one plugin: options, the ListAndWatch consumer thread, the RPC stub."""

    def __init__(
        self,
        resource: str,
        socket_path: Path,
        on_devices: Callable[[PluginEndpoint, list[DeviceState]], None],
        on_closed: Callable[[PluginEndpoint], None],
    ) -> None:
        self.resource = resource
        self.socket_path = socket_path
        self._on_devices = on_devices
        self._on_closed = on_closed
        self._channel = grpc.insecure_channel(f"unix:{socket_path}")
        self.stub = api_pb2_grpc.DevicePluginStub(self._channel)  # type: ignore[no-untyped-call]
        self.options = api_pb2.DevicePluginOptions()
        self._stream: grpc.Future | None = None  # the ListAndWatch call, cancellable
        self._stopped = threading.Event()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self.messages = 0

    def connect(self) -> None:
        """Dial and fetch the options. Raises grpc.RpcError / FutureTimeoutError on failure."""
        grpc.channel_ready_future(self._channel).result(timeout=DIAL_TIMEOUT_S)
        self.options = self.stub.GetDevicePluginOptions(api_pb2.Empty(), timeout=DIAL_TIMEOUT_S)

    def start_watch(self) -> None:
        """Open ListAndWatch and consume it on a thread (call once the endpoint is current)."""
        with self._guard:
            if self._stopped.is_set():
                return
            self._stream = self.stub.ListAndWatch(api_pb2.Empty())
            self._thread = threading.Thread(
                target=self._consume, name=f"kubelet-lw-{self.resource}", daemon=True
            )
            self._thread.start()

    def _consume(self) -> None:
        assert self._stream is not None
        try:
            for msg in self._stream:
                self.messages += 1
                devices = [
                    DeviceState(
                        d.ID,
                        d.health,
                        tuple(n.ID for n in d.topology.nodes) if d.HasField("topology") else (),
                    )
                    for d in msg.devices
                ]
                self._on_devices(self, devices)
        except grpc.RpcError as err:
            if not self._stopped.is_set():
                log.warning(
                    "ListAndWatch of %s at %s ended: %s", self.resource, self.socket_path, err
                )
        finally:
            if not self._stopped.is_set():
                self._on_closed(self)

    def close(self) -> None:
        """Stop consuming (without reporting the stream's end) and close the channel."""
        with self._guard:
            self._stopped.set()
            stream, thread = self._stream, self._thread
        if stream is not None:
            stream.cancel()
        self._channel.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
