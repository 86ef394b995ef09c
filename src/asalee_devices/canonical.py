"""The canonical result of one examination: what every renderer reads, computed once by the workflow.

Two parts, kept apart on purpose:

- the **results document** (``results.json`` beside the recordings, written by :mod:`asalee_devices.workflow.results`
  and recomputed byte for byte by :func:`asalee_devices.workflow.replay.replay`): identity-free, versioned
  (``schema_version``), every measured value with its unit, predicted value, LLN, ULN, z-score, % predicted and
  equation, the ATS/ERS grades and per-blow acceptability (marks with their words), the ECG captures' quality
  findings, technical notes (codes, values and words), filters, non-ECG segments and warnings;
- the **context** the examination was delivered with: patient, performer, GP, device and its calibration, the PDF
  and its sha256 (:class:`CanonicalResult`), never stored in the results document.

The renderers (``fhir_out/``, ``hprim/``, the GDT writer, ``reports/``) take these and never compute: no signal
analysis and no reference equation is called after the workflow has built the document (a test walks their imports
and fails if any reaches ``asalee_devices.signal``). What a FHIR ``SampledData`` needs beyond the document — the
best blow's flow-time curve, the ECG trace — is passed as plain arrays in :class:`FlowCurve` / :class:`EcgTrace`,
built by the workflow from its recordings.

This module imports nothing from ``signal/`` (nor from ``workflow/``): the renderers may depend on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import FormatError

if TYPE_CHECKING:
    from asalee_devices.fhir_out.context import ExamContext, PatientContext

#: Version of the results document's shape. 2: ``schema_version`` itself; spirometry phases carry the words of the
#: nurse's operator marks; ECG captures carry their technical notes (with words), nurse messages, non-ECG segments
#: and the trace's device filters, derived leads, gaps and interruption.
SCHEMA_VERSION = 2
#: Oldest results document a renderer still reads (1 = before ``schema_version``: HPRIM and device results only).
MIN_SCHEMA_VERSION = 1


def schema_version(results: Mapping[str, Any]) -> int:
    """The document's schema version (1 for documents written before the field existed); a document newer than
    this software is refused."""
    version = results.get("schema_version", 1)
    if not isinstance(version, int) or not MIN_SCHEMA_VERSION <= version <= SCHEMA_VERSION:
        raise FormatError("Results document of an unknown schema version", field="schema_version", value=version,
                          expected=f"{MIN_SCHEMA_VERSION}..{SCHEMA_VERSION}")
    return version


def load_results(data: bytes) -> dict[str, Any]:
    """A stored ``results.json`` read back (schema version checked)."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FormatError("Results document is not JSON", field="results.json") from None
    if not isinstance(doc, dict) or doc.get("kind") not in ("spirometry", "ecg"):
        raise FormatError("Not an examination results document", field="kind", expected="spirometry or ecg")
    schema_version(doc)
    return doc


@dataclass(frozen=True, eq=False)
class FlowCurve:
    """One manoeuvre's flow-time curve (BTPS L/s, uniform ``fs_hz``), for the FHIR curves Observation."""

    flow_l_s: NDArray[np.float64]
    fs_hz: float
    interrupted: bool = False


@dataclass(frozen=True, eq=False)
class EcgTrace:
    """The ECG trace a bundle carries (leads x samples in µV) and what was done to it, in words.

    ``device_filters`` / ``applied_filters`` are the descriptions of each filter step (``FilterStep.describe()``,
    built by the workflow); ``lead_off`` marks samples without a valid value (sent as ``E``); ``gaps`` counts the
    transmission gaps."""

    samples_uv: NDArray[np.float64]
    fs_hz: float
    leads: tuple[str, ...]
    resolution_uv: float | None = None
    lead_off: NDArray[np.bool_] | None = None
    device_filters: tuple[str, ...] = ()
    applied_filters: tuple[str, ...] = ()
    derived_leads: frozenset[str] = frozenset()
    gaps: int = 0
    interrupted: bool = False


@dataclass(frozen=True, eq=False)
class CanonicalResult:
    """One examination as the renderers see it: the stored results document plus the delivery context.

    ``results`` is the parsed ``results.json`` (treated as read-only); ``curve`` (spirometry, best pre-phase blow,
    and ``post_curve``) and ``trace`` (ECG) are the arrays a FHIR bundle samples."""

    results: Mapping[str, Any]
    exam: ExamContext
    patient: PatientContext
    curve: FlowCurve | None = None
    post_curve: FlowCurve | None = None
    trace: EcgTrace | None = None
    file_warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        schema_version(self.results)

    @property
    def kind(self) -> str:
        return str(self.results["kind"])

    @property
    def pdf_sha256(self) -> str | None:
        pdf = self.exam.pdf
        return None if pdf is None else hashlib.sha256(pdf).hexdigest()


def phase(results: Mapping[str, Any], name: str = "pre") -> Mapping[str, Any] | None:
    """A spirometry phase of the document (``pre`` or ``post``), or None."""
    phases = results.get("phases") or {}
    found = phases.get(name)
    return found if isinstance(found, Mapping) else None


def kept_capture(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ECG capture the nurse kept, or None."""
    kept = results.get("kept")
    captures = results.get("captures") or []
    if isinstance(kept, int) and 0 <= kept < len(captures) and isinstance(captures[kept], Mapping):
        return captures[kept]  # type: ignore[no-any-return]
    return None
