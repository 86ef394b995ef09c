"""Live USB turbine spirometer (vendor class, interrupt IN endpoint; frame defined in docs/protocols.md)."""
