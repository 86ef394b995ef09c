"""asalee-devices: spirometry and 12-lead ECG device integration for French primary care (ASALEE).

Data flow (see ``docs/architecture.md``)::

    drivers/ (transports, protocol codecs, file formats)
      -> devices/ (device sessions and lifecycle)
      -> signal/ (pure numpy/scipy analysis, no I/O)
      -> fhir_out/ (FHIR R4 mapping, bundles, sinks, outbox)

``simulators/`` are first-class device endpoints; ``reports/`` renders the PDFs the GP reads.
"""

from asalee_devices.errors import AsaleeError

__version__ = "0.1.0"

__all__ = ["AsaleeError", "__version__"]
