"""A virtual USB backend for pyusb (the pyftdi ``VirtBackend`` pattern, our own code): devices declared as
descriptor data, standard requests (string descriptors, configuration) answered by the backend, vendor control
requests and interrupt/bulk IN traffic forwarded to a device function model. Pass it to ``usb.core.find(backend=)``
— or to :class:`~asalee_devices.drivers.transports.usb.UsbTransport` — and the real driver code runs unchanged."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Protocol

import usb.backend
import usb.core

from asalee_devices.simulators.endpoints import _Pump
from asalee_devices.simulators.faults import FaultInjector, FaultPlan


class UsbFunction(Protocol):
    """The device side behind the descriptors. ``control_in`` returns None to stall the request."""

    def control_in(self, request: int, value: int, index: int, length: int) -> bytes | None: ...

    def control_out(self, request: int, value: int, index: int, data: bytes) -> bool: ...

    def on_host_bytes(self, data: bytes) -> None: ...

    def output(self, elapsed_s: float) -> bytes: ...


@dataclass
class VirtualUsbDevice:
    vid: int
    pid: int
    function_factory: Callable[[], UsbFunction]
    manufacturer: str = ""
    product: str = ""
    serial_number: str = ""
    bcd_device: int = 0x0100
    interface_class: int = 0xFF
    endpoint_in: int = 0x81
    endpoint_type: int = 0x03  # interrupt
    max_packet: int = 64
    faults: FaultPlan = field(default_factory=FaultPlan)
    speed: float = 1.0
    bus: int = 1
    address: int = 5
    plugged: bool = True
    # state while plugged in
    function: UsbFunction | None = None
    pump: _Pump | None = None
    pending: bytearray = field(default_factory=bytearray)
    injector: FaultInjector | None = None
    functions: list[UsbFunction] = field(default_factory=list)

    def plug(self) -> None:
        self.plugged = True
        self.function = self.function_factory()
        self.functions.append(self.function)
        if self.injector is None:
            self.injector = FaultInjector(self.faults)
        self.pump = _Pump(self.function, self.injector, self.speed)
        self.pending.clear()

    def unplug(self) -> None:
        self.plugged = False
        self.function = self.pump = None

    def strings(self) -> dict[int, str]:
        return {1: self.manufacturer, 2: self.product, 3: self.serial_number}


def _gone() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


class VirtualUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    def __init__(self, devices: list[VirtualUsbDevice]) -> None:
        self.devices = devices
        for d in devices:
            if d.plugged and d.function is None:
                d.plug()

    # -- enumeration and descriptors
    def enumerate_devices(self) -> Iterator[VirtualUsbDevice]:
        return iter([d for d in self.devices if d.plugged])

    def get_device_descriptor(self, dev: VirtualUsbDevice) -> Any:
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0, bDeviceProtocol=0,
            bMaxPacketSize0=64, idVendor=dev.vid, idProduct=dev.pid, bcdDevice=dev.bcd_device,
            iManufacturer=1 if dev.manufacturer else 0, iProduct=2 if dev.product else 0,
            iSerialNumber=3 if dev.serial_number else 0, bNumConfigurations=1, address=dev.address, bus=dev.bus,
            port_number=1, port_numbers=(1,), speed=2)

    def get_configuration_descriptor(self, dev: VirtualUsbDevice, config: int) -> Any:
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
                               bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80, bMaxPower=50,
                               extra_descriptors=[])

    def get_interface_descriptor(self, dev: VirtualUsbDevice, intf: int, alt: int, config: int) -> Any:
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                               bNumEndpoints=1, bInterfaceClass=dev.interface_class, bInterfaceSubClass=0,
                               bInterfaceProtocol=0, iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev: VirtualUsbDevice, ep: int, intf: int, alt: int, config: int) -> Any:
        return SimpleNamespace(bLength=7, bDescriptorType=5, bEndpointAddress=dev.endpoint_in,
                               bmAttributes=dev.endpoint_type, wMaxPacketSize=dev.max_packet, bInterval=1,
                               bRefresh=0, bSynchAddress=0, extra_descriptors=[])

    # -- handles
    def open_device(self, dev: VirtualUsbDevice) -> VirtualUsbDevice:
        if not dev.plugged:
            raise _gone()
        return dev

    def close_device(self, dev_handle: VirtualUsbDevice) -> None:
        return None

    def set_configuration(self, dev_handle: VirtualUsbDevice, config_value: int) -> None:
        self._alive(dev_handle)

    def get_configuration(self, dev_handle: VirtualUsbDevice) -> int:
        self._alive(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: VirtualUsbDevice, intf: int, altsetting: int) -> None:
        self._alive(dev_handle)

    def claim_interface(self, dev_handle: VirtualUsbDevice, intf: int) -> None:
        self._alive(dev_handle)

    def release_interface(self, dev_handle: VirtualUsbDevice, intf: int) -> None:
        return None

    def is_kernel_driver_active(self, dev_handle: VirtualUsbDevice, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: VirtualUsbDevice, intf: int) -> None:
        return None

    def clear_halt(self, dev_handle: VirtualUsbDevice, ep: int) -> None:
        return None

    def reset_device(self, dev_handle: VirtualUsbDevice) -> None:
        return None

    def _alive(self, dev: VirtualUsbDevice) -> _Pump:
        if not dev.plugged or dev.pump is None:
            raise _gone()
        return dev.pump

    # -- transfers
    def ctrl_transfer(self, dev_handle: VirtualUsbDevice, bmRequestType: int, bRequest: int, wValue: int,
                      wIndex: int, data: Any, timeout: int) -> int:
        dev = dev_handle
        pump = self._alive(dev)
        if bmRequestType == 0x80 and bRequest == 0x06 and wValue >> 8 == 3:  # GET_DESCRIPTOR(STRING)
            idx = wValue & 0xFF
            if idx == 0:
                raw = bytes((4, 3, 0x09, 0x04))
            else:
                text = dev.strings().get(idx, "").encode("utf-16-le")
                raw = bytes((2 + len(text), 3)) + text
            n = min(len(raw), len(data))
            for k in range(n):
                data[k] = raw[k]
            return n
        if time.monotonic() < pump.stalled_until:  # a frozen device NAKs until the host gives up
            time.sleep(timeout / 1000.0)
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        assert dev.function is not None
        if bmRequestType & 0x80:
            reply = dev.function.control_in(bRequest, wValue, wIndex, len(data))
            if reply is None:
                raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
            n = min(len(reply), len(data))
            for k in range(n):
                data[k] = reply[k]
            return n
        payload = bytes(data) if data is not None else b""
        if not dev.function.control_out(bRequest, wValue, wIndex, payload):
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        return len(payload)

    def _read(self, dev: VirtualUsbDevice, ep: int, buff: Any, timeout: int) -> int:
        deadline = time.monotonic() + timeout / 1000.0
        while True:
            pump = self._alive(dev)
            data, unplug = pump.step()
            dev.pending += data
            if unplug:
                if dev.pending:
                    n = self._deliver(dev, buff)
                    dev.unplug()
                    return n
                dev.unplug()
                raise _gone()
            if dev.pending:
                return self._deliver(dev, buff)
            if time.monotonic() >= deadline:
                raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
            time.sleep(0.002)

    def _deliver(self, dev: VirtualUsbDevice, buff: Any) -> int:
        n = min(len(buff), len(dev.pending), dev.max_packet * 64)
        for k in range(n):
            buff[k] = dev.pending[k]
        del dev.pending[:n]
        return n

    def intr_read(self, dev_handle: VirtualUsbDevice, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(dev_handle, ep, buff, timeout)

    def bulk_read(self, dev_handle: VirtualUsbDevice, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(dev_handle, ep, buff, timeout)
