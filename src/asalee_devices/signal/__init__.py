"""Pure signal analysis (numpy/scipy). No I/O; imports nothing from the other asalee_devices subpackages
except :mod:`asalee_devices.errors`."""
