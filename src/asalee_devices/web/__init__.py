"""The practice web app (``asalee-devices serve``): the nurse's bedside pages (patient, devices, live spirometry and
12-lead ECG, review and send, today's history) and the GP's reading and interpretation pages.

An ASGI app (Starlette on uvicorn) bound to loopback by default, on top of the same examination workflow as the
CLI. Nothing in the package imports ``web``; ``web`` imports workflow, devices, fhir_out and reports. The front end
is plain JavaScript and canvas served from package data (no CDN, no build step).
"""
