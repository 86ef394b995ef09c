"""HPRIM Net ("HPRIM Médecins") text of one examination, rendered from its canonical results.

A pure renderer: it reads the canonical results document of ``workflow/results.py`` (as stored beside the
examination in ``results.json``) and the identity/context below, and never recomputes anything (no signal or
reference-equation call; a test proves it imports nothing from ``signal/``). Layout (see docs/hprim.md for the
public parsers this follows):

- the 12-line header: patient code (<= 10), family name, given name, address lines 1 and 2, postcode + town,
  birth date dd/mm/yyyy, NIR/INS (only for a qualified identity), exam reference (<= 10), exam date dd/mm/yyyy,
  sender code (10) + name, recipient code (10) + name;
- the readable report (lines <= 80 characters);
- ``****LAB****`` then one ``RES|label|code|type|value|unit|low|high|flag|status|||`` line per value: measured
  values with LIN/LSN as their normal range and a flag only from LIN/LSN (``L`` below, ``H`` above, ``N`` within,
  empty without a range: never a diagnosis), z-scores, % predicted and grades as their own lines;
- ``****FIN****``, ``****FINFICHIER****``.

ISO-8859-1, CRLF. Characters outside Latin-1 are transliterated, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from asalee_devices.errors import InputError
from asalee_devices.hprim.text import CRLF, TEXT_WIDTH, field, fixed, latin1, wrap

LAB, FIN, FINFICHIER = "****LAB****", "****FIN****", "****FINFICHIER****"

#: Header field lengths (characters). Patient code, exam reference and party codes as MedShakeEHR's msHprim reads
#: them (substr 0..10); names as msHprim keeps them (50); address lines as FreeHealth's HprimHeader writes them (30).
CODE_LEN, NAME_LEN, ADDRESS_LEN, POSTCODE_LEN, TOWN_LEN = 10, 50, 30, 5, 30
#: RES field lengths: bounded so that a RES line stays well within a practice software's line buffer.
LABEL_LEN, RES_CODE_LEN, VALUE_LEN, UNIT_LEN = 40, 10, 40, 10


@dataclass(frozen=True)
class HprimParty:
    """Sender or recipient: an identification code (<= 10 characters) and a name."""

    code: str
    name: str


@dataclass(frozen=True)
class HprimHeader:
    patient_code: str
    family: str
    given: str
    birth_date: date
    exam_ref: str
    exam_date: date
    sender: HprimParty
    recipient: HprimParty
    nir: str | None = None  # 15 characters (NIR + key), only for a qualified identity
    address1: str = ""
    address2: str = ""
    postcode: str = ""
    town: str = ""

    def __post_init__(self) -> None:
        for name, value in (("patient_code", self.patient_code), ("exam_ref", self.exam_ref),
                            ("sender.code", self.sender.code), ("recipient.code", self.recipient.code)):
            if len(value) > CODE_LEN:
                raise InputError("HPRIM code too long", field=name, expected=f"at most {CODE_LEN} characters")
        if self.nir is not None and not (len(self.nir) == 15 and self.nir[:13].isalnum() and self.nir[13:].isdigit()):
            raise InputError("NIR must be 13 characters and a 2-digit key", field="nir", expected="15 characters")

    def lines(self) -> list[str]:
        town = " ".join(p for p in (fixed(self.postcode, POSTCODE_LEN).strip(), latin1(self.town)[:TOWN_LEN]) if p)
        return [
            latin1(self.patient_code),
            latin1(self.family).upper()[:NAME_LEN],
            latin1(self.given)[:NAME_LEN],
            latin1(self.address1)[:ADDRESS_LEN],
            latin1(self.address2)[:ADDRESS_LEN],
            town,
            self.birth_date.strftime("%d/%m/%Y"),
            "" if self.nir is None else f"{self.nir[:13]} {self.nir[13:]}",
            latin1(self.exam_ref),
            self.exam_date.strftime("%d/%m/%Y"),
            (fixed(self.sender.code, CODE_LEN) + " " + latin1(self.sender.name)[:NAME_LEN]).rstrip(),
            (fixed(self.recipient.code, CODE_LEN) + " " + latin1(self.recipient.name)[:NAME_LEN]).rstrip(),
        ]


@dataclass(frozen=True)
class HprimExam:
    """What the readable report says besides the results: who, when, with what, computed by whom."""

    header: HprimHeader
    exam_id: str
    performed_at: datetime
    device_label: str
    performer_label: str
    computed_by: str  # e.g. "asalee-devices 0.1.0", or "logiciel de l'appareil (...)" for an imported result
    pdf_name: str = ""


@dataclass(frozen=True)
class Res:
    """One ``RES`` line. ``type`` is ``N`` (numeric) or ``A`` (text)."""

    label: str
    code: str
    type: str
    value: str
    unit: str = ""
    low: str = ""
    high: str = ""
    flag: str = ""
    status: str = "F"

    def line(self) -> str:
        fields = (field(self.label, LABEL_LEN), field(self.code, RES_CODE_LEN), self.type,
                  field(self.value, VALUE_LEN), field(self.unit, UNIT_LEN), field(self.low, VALUE_LEN),
                  field(self.high, VALUE_LEN), self.flag, self.status, "", "", "")
        return "RES|" + "|".join(fields)


def num(value: float, decimals: int) -> str:
    """A number as written in RES lines and the text: point as decimal separator, fixed decimals."""
    return f"{value:.{decimals}f}"


def range_flag(measured: float, lln: float | None, uln: float | None) -> str:
    """``L`` below the lower limit of normal, ``H`` above the upper one, ``N`` within, empty without a range."""
    if lln is None and uln is None:
        return ""
    if lln is not None and measured < lln:
        return "L"
    if uln is not None and measured > uln:
        return "H"
    return "N"


Body = tuple[list[str], list[Res]]
BodyRenderer = Callable[[Mapping[str, Any], HprimExam], Body]
_BODIES: dict[str, BodyRenderer] = {}


def register_body(kind: str, renderer: BodyRenderer) -> None:
    _BODIES[kind] = renderer


def render_hprim(results: Mapping[str, Any], exam: HprimExam) -> bytes:
    """The HPRIM Net file (ISO-8859-1 bytes, CRLF) of one examination from its canonical results (a document of
    a schema version newer than this software is refused)."""
    from asalee_devices.canonical import schema_version

    schema_version(results)
    _load_builtins()
    kind = str(results.get("kind", ""))
    try:
        body = _BODIES[kind]
    except KeyError:
        raise InputError("No HPRIM rendering for this kind of examination", field="kind", value=kind,
                         expected=", ".join(sorted(_BODIES))) from None
    text, res = body(results, exam)
    lines = exam.header.lines()
    for paragraph in text:
        lines += wrap(paragraph, TEXT_WIDTH)
    lines += [LAB, *(r.line() for r in res), FIN, FINFICHIER]
    return (CRLF.join(lines) + CRLF).encode("iso-8859-1")


def common_text(exam: HprimExam, title: str) -> list[str]:
    when = exam.performed_at.astimezone()
    return [title, "",
            f"Examen du {when.strftime('%d/%m/%Y')} à {when.strftime('%H:%M')} - réf. {exam.exam_id}",
            f"Réalisé par : {exam.performer_label}",
            f"Appareil : {exam.device_label}",
            f"Résultats calculés par : {exam.computed_by}", ""]


def closing_text(exam: HprimExam) -> list[str]:
    out = ["", "Mesures sans interprétation : l'interprétation revient au médecin."]
    if exam.pdf_name:
        out.append(f"Compte rendu PDF joint : {exam.pdf_name}")
    return out


def _load_builtins() -> None:
    if {"spirometry", "ecg"} <= _BODIES.keys():
        return
    from asalee_devices.hprim import ecg, spirometry

    register_body("spirometry", spirometry.body)
    register_body("ecg", ecg.body)
