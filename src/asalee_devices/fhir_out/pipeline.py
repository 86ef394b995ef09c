"""From a finished examination to the outbox: parse the patient, build and validate the bundle, then persist it.

Everything that can be wrong with the identity (invalid NIR key, INS on an unqualified identity, test INS outside
test mode, missing mandatory fields) raises :class:`PatientDataError` here, before anything is queued.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from asalee_devices.errors import PatientDataError
from asalee_devices.fhir_out._build import to_json
from asalee_devices.fhir_out.context import ExamContext, PatientContext
from asalee_devices.fhir_out.outbox import Outbox, QueuedMessage

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

_REQUIRED = ("family", "given", "birth_date", "sex")


def patient_from_mapping(data: Mapping[str, Any]) -> PatientContext:
    """A :class:`PatientContext` from JSON-like data (``birth_date`` as ``YYYY-MM-DD``, ``given`` a string or a
    list of birth given names). Missing mandatory fields are named in the error (never their values)."""
    missing = [k for k in _REQUIRED if not data.get(k)]
    if missing:
        raise PatientDataError("Mandatory patient fields are missing", field=", ".join(missing),
                               expected="family, given, birth_date, sex")
    try:
        birth = date.fromisoformat(str(data["birth_date"]))
    except ValueError:
        raise PatientDataError("Birth date is not a date", field="birth_date", expected="YYYY-MM-DD") from None
    given = data["given"]
    known = {"ins", "ins_kind", "identity_qualified", "validation_mode", "birth_place_cog", "local_id",
             "local_system"}
    unknown = set(data) - known - set(_REQUIRED)
    if unknown:
        raise PatientDataError("Unknown patient fields", field=", ".join(sorted(unknown)),
                               expected=", ".join((*_REQUIRED, *sorted(known))))
    return PatientContext(family=str(data["family"]), given=(given,) if isinstance(given, str) else tuple(given),
                          birth_date=birth, sex=data["sex"],
                          **{k: data[k] for k in known if k in data})


def prepare_message(*, sink: str, exam: ExamContext, kind: str, build: Callable[[], Bundle]) -> QueuedMessage:
    """Build (and validate) the bundle of one message for ``sink``, ready for :meth:`Outbox.enqueue_many`."""
    payload = to_json(build()).encode("utf-8")
    return QueuedMessage(exam.exam_id, kind, sink, exam.performed_at.date().isoformat(), payload, exam.pdf)


def queue_exam(outbox: Outbox, *, sink: str, exam: ExamContext, kind: str, build: Callable[[], Bundle]) -> int:
    """Build (and validate) the bundle, then persist it in the outbox for ``sink``; returns the message id.
    Nothing is queued when building fails."""
    (mid,) = outbox.enqueue_many([prepare_message(sink=sink, exam=exam, kind=kind, build=build)])
    return mid
