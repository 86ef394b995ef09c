"""The ASALEE protocols an examination belongs to (a configurable list of codes; the built-in ones have labels).

Pure table, no I/O: used by the workflow (the nurse's choice), the FHIR mapping (``CarePlan`` + ``reasonCode``), the
dashboard and the evaluation export (code lists in ``docs/evaluation-export.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asalee_devices.errors import InputError


@dataclass(frozen=True)
class Protocol:
    code: str
    label_fr: str
    label_en: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_fr


#: The programme's protocols named in the issue; a configuration may list others (labelled by their code).
BUILTIN: dict[str, Protocol] = {p.code: p for p in (
    Protocol("bpco-tabac", "Dépistage BPCO du patient tabagique", "COPD screening of the smoking patient"),
    Protocol("diabete-t2", "Suivi du diabète de type 2", "Type 2 diabetes follow-up"),
    Protocol("risque-cv", "Suivi du risque cardio-vasculaire", "Cardiovascular risk follow-up"),
)}


def protocol(code: str, allowed: Sequence[str]) -> Protocol:
    """The protocol ``code`` if the configuration allows it; :class:`InputError` naming the allowed codes."""
    if code not in allowed:
        raise InputError("Unknown ASALEE protocol", field="protocol", value=code,
                         expected="one of " + ", ".join(allowed))
    return BUILTIN.get(code) or Protocol(code, code, code)


def protocol_label(code: str, lang: str = "fr") -> str:
    p = BUILTIN.get(code)
    return p.label(lang) if p is not None else (code or ("non renseigné" if lang == "fr" else "not given"))
