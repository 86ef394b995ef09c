"""FHIR transaction Bundle -> HL7 v2.6 ORU^R01 in the IHE PCD-01 style (for receivers without FHIR).

PID per IHE PAM France (INS with its assigning authority and OID, birth names, birth place, identity reliability in
PID-32). One OBR for the DiagnosticReport; one OBX per Observation value and per component (MDC code first, LOINC as
the alternate identifier, UCUM units, containment path in OBX-4, equipment instance in OBX-18 as an EI: serial ^
manufacturer-model ^ device UUID ^ UUID); waveform leads as NA OBX rows of the device's integers with sample-rate
and resolution facet OBXs (IHE WCM style); notes as NTE; the PDF report as an ED OBX (``^AP^PDF^Base64^...``).
Text is HL7-escaped; the message declares its character set in MSH-18.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from asalee_devices.fhir_out import codes as C

Json = dict[str, Any]
CHARSET_NAMES = {"iso-8859-1": "8859/1", "latin-1": "8859/1", "latin1": "8859/1", "utf-8": "UNICODE UTF-8",
                 "utf8": "UNICODE UTF-8", "ascii": "ASCII", "us-ascii": "ASCII"}
PCD01_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
MDC_ATTR_SAMPLE_RATE = "68320^MDC_ATTR_SAMPLE_RATE^MDC"
MDC_ATTR_SA_MSMT_RES = "67945^MDC_ATTR_SA_MSMT_RES^MDC"
_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}


def escape(text: str) -> str:
    """HL7 v2 escaping of the default delimiters (and line breaks)."""
    return (text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
            .replace("~", "\\R\\").replace("\r", "\\X0D\\").replace("\n", "\\X0A\\"))


#: Typographic characters of the message catalogue that a legacy character set (ISO 8859-1, ASCII) cannot carry,
#: and their plain equivalents.
_PLAIN = {"\u2014": "-", "\u2013": "-", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
          "\u2026": "...", "\u202f": " "}


def in_charset(text: str, charset: str) -> str:
    """``text`` with the typographic characters ``charset`` cannot encode replaced by plain ones (an em dash by a
    hyphen...): the nurse's messages and notes keep their words on an ISO 8859-1 link. Other characters are left
    as they are (the sink refuses a message it cannot encode)."""
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return "".join(_PLAIN.get(c, c) if not _encodable(c, charset) else c for c in text)
    except LookupError:
        return text
    return text


def _encodable(char: str, charset: str) -> bool:
    try:
        char.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def _ts(value: str) -> str:
    """FHIR dateTime -> HL7 DTM (YYYYMMDDHHMMSS+ZZZZ)."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        return dt.strftime("%Y%m%d%H%M%S")
    return dt.strftime("%Y%m%d%H%M%S%z")


def _cwe(concept: Json) -> str:
    """CodeableConcept -> CWE: MDC (or first) coding as identifier, LOINC (or second) as alternate."""
    codings = concept.get("coding", [])
    sysname = {C.MDC: "MDC", C.LOINC: "LN", C.SNOMED: "SCT", C.UCUM: "UCUM"}
    mdc = [c for c in codings if c.get("system") == C.MDC]
    others = [c for c in codings if c.get("system") != C.MDC]
    ordered = mdc + others
    parts: list[str] = []
    for c in ordered[:2]:
        name = sysname.get(c.get("system", ""), "99ASL")
        parts += [escape(str(c["code"])), escape(str(c.get("display") or concept.get("text") or "")), name]
    if not parts:
        return "^" + escape(concept.get("text", ""))
    return "^".join(parts)


def _unit(q: Json) -> str:
    code = q.get("code") or q.get("unit") or ""
    return f"{escape(code)}^^UCUM" if q.get("system") == C.UCUM else escape(str(q.get("unit", "")))


def _num(v: float | int) -> str:
    """A plain decimal (never exponent notation)."""
    if isinstance(v, float):
        import numpy as np

        return str(np.format_float_positional(v, trim="-"))
    return str(v)


def _identifier(res: Json) -> tuple[str, str]:
    for ident in res.get("identifier", []):
        return str(ident.get("value", "")), str(ident.get("system", ""))
    return "", ""


#: PID-3 assigning authority namespace of each INS system (IHE PAM France: ``ASIP-SANTE-INS-NIR&<OID>&ISO``)
INS_AUTHORITIES = {oid: f"ASIP-SANTE-{kind}" for kind, oid in C.INS_SYSTEMS.items()}
#: PID-32 identity reliability codes (IHE PAM France, table 0445 as FR Core's identityStatus uses it)
_RELIABILITY_CODES = frozenset({"PROV", "VALI", "RECUP", "QUAL"})


def _hd(system: str) -> str:
    if system.startswith("urn:oid:"):
        return f"{INS_AUTHORITIES.get(system, '')}&{system[8:]}&ISO"
    return f"&{escape(system)}&URI"


def _pid(patient: Json) -> str:
    """PID per IHE PAM France (the national extension of IHE PAM, Interop'Santé): PID-3 the INS with its assigning
    authority (``ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS``) and the local identifier (``PI``); PID-5 the
    birth name (type ``L``): family ^ first given name ^ every birth given name space-separated; PID-7 birth date;
    PID-8 sex; PID-11 a birth-place repetition (type ``BDL``, INSEE COG code in XAD-9); PID-32 the identity
    reliability code (``VALI`` for a qualified INS identity, ``PROV`` otherwise)."""
    pid3 = []
    for ident in patient.get("identifier", []):
        id_type = "INS" if ident.get("system") in INS_AUTHORITIES else "PI"
        pid3.append(f"{escape(ident['value'])}^^^{_hd(ident['system'])}^{id_type}")
    name = patient.get("name", [{}])[0]
    given = list(name.get("given", []))
    birth_list = next((e["valueString"] for e in name.get("extension", [])
                       if e.get("url") == C.FR_CORE_BIRTH_LIST_GIVEN_NAME), "")
    first = given[0] if given else ""
    xpn = f"{escape(name.get('family', ''))}^{escape(first)}^{escape(birth_list or ' '.join(given))}^^^^L"
    cog = status = ""
    for ext in patient.get("extension", []):
        if ext.get("url") == C.PATIENT_BIRTH_PLACE:
            for sub in ext.get("valueAddress", {}).get("extension", []):
                if sub.get("url") == C.FR_INSEE_COG_EXT:
                    cog = str(sub.get("valueCoding", {}).get("code", ""))
        elif ext.get("url") == C.FR_CORE_IDENTITY_RELIABILITY:
            for sub in ext.get("extension", []):
                if sub.get("url") == "identityStatus":
                    status = str(sub.get("valueCoding", {}).get("code", ""))
    fields = ["PID", "1", "", "~".join(pid3), "", xpn, "", patient.get("birthDate", "").replace("-", ""),
              _SEX.get(patient.get("gender", ""), "U"), "", "", f"^^^^^^BDL^^{escape(cog)}" if cog else ""]
    fields += [""] * (33 - len(fields))
    fields[32] = status if status in _RELIABILITY_CODES else "PROV"
    return "|".join(fields)


def _equipment(device: Json | None) -> str:
    """OBX-18 (EI): serial number ^ namespace (manufacturer-model) ^ the device's identifier (UUID) ^ UUID."""
    if device is None:
        return ""
    uid = _identifier(device)[0]
    namespace = "-".join(x for x in (device.get("manufacturer", ""), device.get("modelNumber", "")) if x)
    return "^".join((escape(device.get("serialNumber", "") or uid), escape(namespace), escape(uid),
                     "UUID" if uid else ""))


def bundle_to_oru(bundle: Json | bytes | str, *, control_id: str, charset: str = "iso-8859-1",
                  sending_application: str = "ASALEE-DEVICES", sending_facility: str = "",
                  receiving_application: str = "", receiving_facility: str = "", processing_id: str = "P",
                  now: datetime | None = None) -> str:
    """The ORU^R01 message (segments separated by ``\\r``) for one examination bundle."""
    doc: Json = json.loads(bundle) if isinstance(bundle, bytes | str) else bundle
    by_url: dict[str, Json] = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    patient = next(r for r in by_url.values() if r["resourceType"] == "Patient")
    report = next(r for r in by_url.values() if r["resourceType"] == "DiagnosticReport")
    devices = [r for r in by_url.values() if r["resourceType"] == "Device"]
    measuring = next((d for d in devices if d.get("type", {}).get("text") != "Analysis software"), None)
    equipment = _equipment(measuring)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S%z")
    segs = ["|".join(["MSH", "^~\\&", escape(sending_application), escape(sending_facility),
                      escape(receiving_application), escape(receiving_facility), stamp, "", "ORU^R01^ORU_R01",
                      escape(control_id), processing_id, "2.6", "", "", "AL", "NE", "FRA",
                      CHARSET_NAMES.get(charset.lower(), escape(charset)), "", "", PCD01_PROFILE])]
    segs.append(_pid(patient))
    rep_id, rep_sys = _identifier(report)
    obr_status = {"preliminary": "P", "final": "F"}.get(report.get("status", ""), "P")
    eff = _ts(report["effectiveDateTime"]) if "effectiveDateTime" in report else ""
    obr = ["OBR", "1", "", f"{escape(rep_id)}^ASALEE^{escape(rep_sys)}^URI", _cwe(report["code"]), "", "", eff]
    obr += [""] * (25 - len(obr))
    obr.append(obr_status)
    segs.append("|".join(obr))
    n_obx = 0

    def obx(vtype: str, code: str, sub: str, value: str, unit: str = "", ref: str = "", flag: str = "",
            status: str = "F", when: str = eff) -> None:
        nonlocal n_obx
        n_obx += 1
        segs.append("|".join(["OBX", str(n_obx), vtype, code, sub, value, unit, ref, flag, "", "", status, "", "",
                              when, "", "", "", equipment]))

    channel = 0
    for ref in report.get("result", []):
        obs = by_url.get(ref["reference"])
        if obs is None:
            continue
        channel += 1
        status = "F" if obs.get("status") == "final" else "P"
        when = _ts(obs["effectiveDateTime"]) if "effectiveDateTime" in obs else eff
        path = f"1.1.{channel}"
        metric = 0
        if "valueQuantity" in obs:
            q = obs["valueQuantity"]
            rr = obs.get("referenceRange", [{}])[0]
            ref_range = f">{_num(rr['low']['value'])}" if "low" in rr else ""
            flag = obs.get("interpretation", [{}])[0].get("coding", [{}])[0].get("code", "")
            obx("NM", _cwe(obs["code"]), f"{path}.{metric}", _num(q["value"]), _unit(q), ref_range, flag, status,
                when)
        elif "valueCodeableConcept" in obs:
            obx("CWE", _cwe(obs["code"]), f"{path}.{metric}", _cwe(obs["valueCodeableConcept"]), status=status,
                when=when)
        elif "dataAbsentReason" in obs:
            obx("ST", _cwe(obs["code"]), f"{path}.{metric}", "", status="X", when=when)
        for comp in obs.get("component", []):
            metric += 1
            sub = f"{path}.{metric}"
            if "valueQuantity" in comp:
                obx("NM", _cwe(comp["code"]), sub, _num(comp["valueQuantity"]["value"]), _unit(comp["valueQuantity"]),
                    status=status, when=when)
            elif "valueString" in comp:
                obx("ST", _cwe(comp["code"]), sub, escape(comp["valueString"]), status=status, when=when)
            elif "valueInteger" in comp:
                obx("NM", _cwe(comp["code"]), sub, str(comp["valueInteger"]), status=status, when=when)
            elif "valueCodeableConcept" in comp:
                obx("CWE", _cwe(comp["code"]), sub, _cwe(comp["valueCodeableConcept"]), status=status, when=when)
            elif "valueSampledData" in comp:
                sd = comp["valueSampledData"]
                data = str(sd["data"])
                if "E" in data or "L" in data or "U" in data:  # no valid value / below / above the range: empty
                    values = "^".join("" if t in ("E", "L", "U") else t for t in data.split(" "))
                else:  # integers only (the common case): one pass at C speed
                    values = data.replace(" ", "^")
                origin_unit = _unit(sd["origin"])
                obx("NA", _cwe(comp["code"]), sub, values, origin_unit, status=status, when=when)
                fs_hz = 1000.0 / float(sd["period"])
                obx("NM", MDC_ATTR_SAMPLE_RATE, f"{sub}.1", _num(round(fs_hz, 6)), "Hz^^UCUM", status=status,
                    when=when)
                obx("NM", MDC_ATTR_SA_MSMT_RES, f"{sub}.2", _num(sd.get("factor", 1)), origin_unit,
                    status=status, when=when)
        for i, note in enumerate(obs.get("note", []), start=1):
            segs.append(f"NTE|{i}||{escape(in_charset(note['text'], charset))}")
    for form in report.get("presentedForm", []):  # the PDF report as an encapsulated-data OBX (base64)
        if form.get("contentType") == "application/pdf" and form.get("data"):
            channel += 1
            obx("ED", _cwe(report["code"]), f"1.1.{channel}.0", f"^AP^PDF^Base64^{form['data']}",
                status=obr_status)
    return "\r".join(segs) + "\r"
