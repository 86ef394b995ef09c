"""ECG12: a 12-lead acquisition module over USB-CDC serial streaming ADS1298-style frames (see docs/protocols.md)."""
