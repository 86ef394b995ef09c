"""USB transport through pyusb with an injectable backend (libusb by default; the simulators' virtual backend in
tests). The device is found by VID/PID (and serial number) at every open, so a re-enumerated device is re-found."""

from __future__ import annotations

import errno
from typing import Any

from asalee_devices.drivers.transports.base import Transport
from asalee_devices.drivers.url import DeviceUrl, TransportFactory
from asalee_devices.errors import DeviceDisconnectedError, DeviceNotFoundError, DeviceTimeoutError


class UsbTransport(Transport):
    """Reads the first IN endpoint of interface 0; vendor control requests through :meth:`control_in` /
    :meth:`control_out`."""

    def __init__(self, vid: int, pid: int, *, serial_number: str | None = None, backend: Any = None,
                 label: str = "") -> None:
        self.vid, self.pid, self.serial_number = vid, pid, serial_number
        self.backend = backend
        self.address = label or f"usb://{vid:04x}:{pid:04x}"
        self._dev: Any = None
        self._ep_in: Any = None

    def _wrap(self, exc: Exception, what: str) -> Exception:
        import usb.core

        if isinstance(exc, usb.core.USBTimeoutError):
            return DeviceTimeoutError(f"USB {what} timed out", field="address", value=self.address)
        if isinstance(exc, usb.core.USBError) and exc.errno in (errno.ENODEV, errno.EIO, errno.EPIPE, None):
            self.close()
            return DeviceDisconnectedError(f"USB device gone during {what}", field="address", value=self.address)
        return DeviceDisconnectedError(f"USB {what} failed ({type(exc).__name__})", field="address",
                                       value=self.address)

    def open(self) -> None:
        if self._dev is not None:
            return
        import usb.core
        import usb.util

        def match(d: Any) -> bool:
            if self.serial_number is None:
                return True
            try:
                return bool(usb.util.get_string(d, d.iSerialNumber) == self.serial_number)
            except (usb.core.USBError, ValueError):
                return False

        try:
            dev = usb.core.find(idVendor=self.vid, idProduct=self.pid, custom_match=match, backend=self.backend)
        except usb.core.NoBackendError as exc:
            raise DeviceNotFoundError("No USB backend (libusb) available", field="address", value=self.address,
                                      expected="libusb installed (libusb-package on Windows)") from exc
        if dev is None:
            raise DeviceNotFoundError("No USB device with this VID/PID", field="address", value=self.address,
                                      expected="the device plugged in")
        try:
            try:
                active = dev.get_active_configuration()
            except usb.core.USBError:
                active = None
            if active is None:
                dev.set_configuration()  # only when unconfigured: it resets an active device
                active = dev.get_active_configuration()
            intf = active[(0, 0)]
            try:
                if dev.is_kernel_driver_active(0):
                    dev.detach_kernel_driver(0)
            except (NotImplementedError, usb.core.USBError):
                pass
            usb.util.claim_interface(dev, 0)
            ep = usb.util.find_descriptor(
                intf, custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN)
        except usb.core.USBError as exc:
            raise DeviceNotFoundError("USB device could not be claimed", field="address", value=self.address,
                                      expected="access rights (udev rule) and no other program using it") from exc
        if ep is None:
            raise DeviceNotFoundError("USB device has no IN endpoint", field="address", value=self.address)
        self._dev, self._ep_in = dev, ep

    @property
    def is_open(self) -> bool:
        return self._dev is not None

    def _require(self) -> Any:
        if self._dev is None:
            raise DeviceDisconnectedError("USB device is not open", field="address", value=self.address)
        return self._dev

    def identity_strings(self) -> tuple[str, str, str, str]:
        """Manufacturer, product, serial number (string descriptors) and firmware (bcdDevice)."""
        import usb.core
        import usb.util

        dev = self._require()
        try:
            strings = [usb.util.get_string(dev, i) or "" if i else ""
                       for i in (dev.iManufacturer, dev.iProduct, dev.iSerialNumber)]
        except usb.core.USBError as exc:
            raise self._wrap(exc, "string descriptor read") from exc
        bcd = int(dev.bcdDevice)
        return strings[0], strings[1], strings[2], f"{bcd >> 8:x}.{bcd & 0xFF:02x}"

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        import usb.core

        dev = self._require()
        size = max(int(self._ep_in.wMaxPacketSize), min(max_bytes, 4096))
        try:
            data = dev.read(self._ep_in.bEndpointAddress, size, timeout=max(1, int(timeout_s * 1000)))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            raise self._wrap(exc, "read") from exc
        return bytes(data)

    def write(self, data: bytes) -> None:
        raise DeviceDisconnectedError("This USB device takes control requests, not OUT data", field="address",
                                      value=self.address)

    def control_in(self, request: int, length: int, value: int = 0, index: int = 0, timeout_s: float = 1.0) -> bytes:
        import usb.core

        dev = self._require()
        try:
            return bytes(dev.ctrl_transfer(0xC0, request, value, index, length, timeout=int(timeout_s * 1000)))
        except usb.core.USBError as exc:
            raise self._wrap(exc, f"control request {request:#x}") from exc

    def control_out(self, request: int, value: int = 0, index: int = 0, data: bytes = b"",
                    timeout_s: float = 1.0) -> None:
        import usb.core

        dev = self._require()
        try:
            dev.ctrl_transfer(0x40, request, value, index, data, timeout=int(timeout_s * 1000))
        except usb.core.USBError as exc:
            raise self._wrap(exc, f"control request {request:#x}") from exc

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            import usb.core
            import usb.util

            try:
                usb.util.dispose_resources(dev)
            except usb.core.USBError:
                pass


#: options of a ``usb://`` URL
USB_OPTIONS = ("serial",)


def factory_from_url(dev: DeviceUrl) -> TransportFactory:
    """Transport factory for ``<driver>+usb://VID:PID[?serial=...]`` (hexadecimal ids)."""
    from asalee_devices.errors import ConfigError

    dev.check_options(USB_OPTIONS)
    try:
        vid_s, pid_s = dev.location.split(":")
        vid, pid = int(vid_s, 16), int(pid_s, 16)
    except ValueError:
        raise ConfigError("USB address must be VID:PID in hexadecimal", field="address", value=dev.location,
                          expected="e.g. turbine+usb://1209:7b10") from None
    serial = dev.params.get("serial")
    label = dev.label
    return lambda: UsbTransport(vid, pid, serial_number=serial, label=label)
