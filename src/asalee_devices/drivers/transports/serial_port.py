"""Serial transport through ``serial.serial_for_url``: real ports, ``socket://host:port``, ``loop://``,
``rfc2217://``, ``spy://``, ``hwgrep://``."""

from __future__ import annotations

from typing import Any

import serial

from asalee_devices.drivers.transports.base import Transport
from asalee_devices.drivers.url import DeviceUrl, TransportFactory
from asalee_devices.errors import DeviceDisconnectedError, DeviceNotFoundError

#: what failed to open, by pyserial URL scheme (a plain port name has none)
_WHAT = {"socket": "the TCP connection (socket://)", "rfc2217": "the RFC 2217 (TCP) connection",
         "loop": "the loopback port", "asaleesim": "the simulator link", "spy": "the serial port (spy://)",
         "hwgrep": "the serial port found by hwgrep://"}


class SerialTransport(Transport):
    """A pyserial port opened from a URL. DTR/RTS are set before opening (opening toggles them otherwise)."""

    def __init__(self, url: str, *, baud: int = 115200, dtr: bool | None = None, rts: bool | None = None,
                 label: str = "") -> None:
        self.url = url
        self.baud = baud
        self.address = label or url
        self._dtr, self._rts = dtr, rts
        self._port: Any = None

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0, write_timeout=2.0,
                                         do_not_open=True)
            if self._dtr is not None:
                port.dtr = self._dtr
            if self._rts is not None:
                port.rts = self._rts
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            what = _WHAT.get(self.url.split("://", 1)[0].lower() if "://" in self.url else "", "the serial port")
            raise DeviceNotFoundError(f"Cannot open {what}", field="address", value=self.address,
                                      expected=f"a device answering there ({type(exc).__name__})") from exc
        self._port = port

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        port = self._require()
        try:
            port.timeout = max(timeout_s, 0.0)
            first: bytes = port.read(1)
            if not first:
                return b""
            port.timeout = 0  # then whatever else is already there, without waiting
            rest: bytes = port.read(max_bytes - 1) if max_bytes > 1 else b""
            return first + rest
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceDisconnectedError("Serial link lost", field="address", value=self.address) from exc

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise DeviceDisconnectedError("Serial link lost while writing", field="address",
                                          value=self.address) from exc

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _require(self) -> Any:
        if self._port is None:
            raise DeviceDisconnectedError("Serial port is not open", field="address", value=self.address)
        return self._port


def find_serial_port(vid: int, pid: int, serial_number: str | None = None) -> str | None:
    """The current device path of a USB serial adapter, matched by VID/PID (and serial number) — never by path,
    since the OS may re-enumerate it as another node."""
    from serial.tools import list_ports

    for port in list_ports.comports():
        if port.vid == vid and port.pid == pid and (serial_number is None or port.serial_number == serial_number):
            return str(port.device)
    return None


#: options of a serial-family URL (``baud`` everywhere; ``vid``/``pid``/``serial`` re-find a USB serial adapter)
SERIAL_OPTIONS = ("baud", "vid", "pid", "serial")
NETWORK_OPTIONS = ("baud",)


def factory_from_url(dev: DeviceUrl) -> TransportFactory:
    """Transport factory for ``<driver>+serial://PATH``, ``+socket://HOST:PORT``, ``+loop://``, ``+rfc2217://``.

    With ``vid``/``pid`` (and ``serial``) parameters the serial port is re-found at every connection. Options
    other than :data:`SERIAL_OPTIONS` (serial) or :data:`NETWORK_OPTIONS` (socket, loop, rfc2217) are refused."""
    from asalee_devices.drivers.registry import get_driver

    dev.check_options(SERIAL_OPTIONS if dev.transport == "serial" else NETWORK_OPTIONS)
    spec = get_driver(dev.driver)
    baud = dev.int_option("baud", spec.default_baud) or spec.default_baud
    vid = dev.int_option("vid")
    pid = dev.int_option("pid")
    serial_no = dev.params.get("serial")
    label = dev.label

    def make() -> SerialTransport:
        if dev.transport == "serial":
            path = dev.location
            if vid is not None and pid is not None:
                found = find_serial_port(vid, pid, serial_no)
                if found is None:
                    raise DeviceNotFoundError("No serial device with this VID/PID", field="address",
                                              value=label, expected="the device plugged in")
                path = found
            return SerialTransport(path, baud=baud, label=label)
        return SerialTransport(f"{dev.transport}://{dev.location}", baud=baud, label=label)

    return make
