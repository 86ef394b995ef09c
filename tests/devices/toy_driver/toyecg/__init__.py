"""A toy 8-channel ECG driver, written by following docs/how-to-add-a-device.md (file 1 of 4: the registration).

The entry point ``toyecg = "toyecg:SPEC"`` of the ``asalee_devices.drivers`` group points here; nothing heavier than
this module is imported until a session is opened (the session class is named as a string)."""

from asalee_devices.drivers.registry import DriverSpec

SPEC = DriverSpec(
    name="toyecg",
    kind="ecg",
    description="toy 8-channel ECG (documentation example)",
    transports=("serial", "socket"),
    default_baud=115200,
    session="toyecg.session:ToyEcg",
)
