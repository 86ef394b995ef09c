"""Byte transports: one small interface (open / read with timeout / write / close) over serial URLs, USB and
in-process simulators."""

from asalee_devices.drivers.transports.base import Transport

__all__ = ["Transport"]
