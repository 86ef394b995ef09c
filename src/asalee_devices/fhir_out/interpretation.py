"""The GP's interpretation of a resting ECG: the update bundle that finalises the examination's DiagnosticReport.

The report keeps its business identifier (name-based on device serial, exam id and ``report``, see ``_build``),
so the update is a conditional update (``PUT DiagnosticReport?identifier=system|value``): the receiver updates the
report it already holds, or creates it once if the original never arrived — never a second report. The other
resources of the original bundle are repeated as conditional creates (they resolve to the existing ones) so that
the report's references stay valid inside the transaction; the GP's Practitioner is added the same way, the
``Task`` asking for the interpretation is completed (conditional update too).

Versions: the first interpretation makes the report ``final``; the GP may reopen it and amend it, each amendment
a new update of the same report (status ``amended``, FHIR R4 DiagnosticReport.status), the server keeping the earlier
versions (``meta.versionId`` + 1 each time). With ``pdf`` (the "interprété" ECG PDF: the same tracing with the GP's
conclusion, name, date and version) the report's ``presentedForm`` is that PDF, replacing the "hors interprétation"
one the nurse sent, which stays on the report's first (preliminary) version and in the examination's folder.

Only the GP's own text (and the codes the GP chose) are written: the service never proposes an interpretation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asalee_devices.errors import InputError
from asalee_devices.fhir_out import _build as B
from asalee_devices.fhir_out.context import ExamContext, PerformerContext

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

MAX_CONCLUSION_CHARS = 10_000


def _conditional_url(resource: Mapping[str, Any]) -> str:
    ident = (resource.get("identifier") or [{}])[0]
    if not ident.get("system") or not ident.get("value"):
        raise InputError("Resource without a business identifier", field=str(resource.get("resourceType")),
                         expected="the identifier of the original bundle")
    return f"{resource['resourceType']}?identifier={ident['system']}|{ident['value']}"


def interpretation_bundle(exam: ExamContext, original: Mapping[str, Any], *, gp: PerformerContext,
                          conclusion: str, codes: Sequence[Mapping[str, str]] = (),
                          interpreted_at: datetime | None = None, pdf: bytes | None = None,
                          version: int = 1) -> Bundle:
    """The transaction Bundle finalising the ECG report of ``original`` (the bundle as first delivered).
    ``codes``: {system, code, display, text?} (``text``: the label the GP saw); ``pdf``: the interpreted ECG PDF
    (replaces the report's attachment); ``version``: 1 for the first interpretation, 2... for amendments."""
    text = conclusion.strip()
    if not text:
        raise InputError("The interpretation is empty", field="conclusion", expected="the GP's text")
    if len(text) > MAX_CONCLUSION_CHARS:
        raise InputError("The interpretation is too long", field="conclusion",
                         expected=f"at most {MAX_CONCLUSION_CHARS} characters")
    for c in codes:
        if not c.get("system") or not c.get("code"):
            raise InputError("Coded statement without system or code", field="codes",
                             expected="{system, code, display}")
    if version < 1:
        raise InputError("Invalid interpretation version", field="version", expected="1 or more")
    when = interpreted_at or datetime.now(UTC)
    b = B.BundleBuilder(exam)
    report_entry: dict[str, Any] | None = None
    task_entry: dict[str, Any] | None = None
    for entry in original.get("entry", []):
        rtype = entry.get("resource", {}).get("resourceType")
        if rtype == "DiagnosticReport":
            report_entry = copy.deepcopy(entry)
        elif rtype == "Task":
            task_entry = copy.deepcopy(entry)
        else:
            b.entries.append(copy.deepcopy(entry))
    if report_entry is None:
        raise InputError("The original bundle has no DiagnosticReport", field="original",
                         expected="the ECG bundle as delivered")
    known = {e["fullUrl"] for e in b.entries}
    gp_full = f"urn:uuid:{b.uid('practitioner-gp')}"
    gp_url = gp_full if gp_full in known else B.add_practitioner(b, gp, "gp")
    report = report_entry["resource"]
    report["status"] = "final" if version == 1 else "amended"
    report["resultsInterpreter"] = [{"reference": gp_url}]
    report["conclusion"] = text
    if codes:
        report["conclusionCode"] = [B.concept(B.coding(c["system"], c["code"], c.get("display")),
                                              text=c.get("text")) for c in codes]
    if pdf is not None:
        title = ("ECG 12 dérivations — interprété par le médecin" if version == 1 else
                 f"ECG 12 dérivations — interprété par le médecin (version {version})")
        report["presentedForm"] = [B.presented_form(pdf, title)]
    report["issued"] = when.isoformat(timespec="milliseconds")
    report_entry["request"] = {"method": "PUT", "url": _conditional_url(report)}
    b.entries.append(report_entry)
    if task_entry is not None:
        task = task_entry["resource"]
        task["status"] = "completed"
        task["lastModified"] = B.iso(when)
        task_entry["request"] = {"method": "PUT", "url": _conditional_url(task)}
        b.entries.append(task_entry)
    return B.finish(b)
