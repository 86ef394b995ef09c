"""The one catalogue of the words shown to people (French first, English), kept out of the computing layers.

``signal/`` computes codes and numbers only; the sentences the nurse reads and the technical notes the GP reads live
here, one module per examination (``spirometry``, ``ecg``), looked up by code by the PDFs, the web pages, the FHIR
notes and the CLI.
"""
