"""GDT (Gerätedatentransfer) 2.1 / 3.0: the codec of the files vendor spirometry and ECG programs exchange with
practice software (see docs/gdt.md)."""

from asalee_devices.drivers.gdt.codec import F, GdtField, GdtRecord, decode, encode

__all__ = ["F", "GdtField", "GdtRecord", "decode", "encode"]
