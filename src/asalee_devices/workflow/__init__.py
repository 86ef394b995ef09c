"""The examination workflow: what the nurse does, from the device session to the record (used by the CLI and the
web app). It sits on top of every other package: drivers/devices acquire, signal analyses, reports render, fhir_out
delivers."""
