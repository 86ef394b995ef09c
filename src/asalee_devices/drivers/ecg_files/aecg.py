"""HL7 aECG reader (FDA annotated ECG, HL7 v3 PORT_MT020001): rhythm and representative beats, origin and scale
per lead, filters from the control variables, device annotations kept as device-provided data."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.ecg_files._util import (
    MAX_LEADS,
    MAX_SAMPLES_PER_LEAD,
    Deviations,
    derive_limb_leads,
    filter_steps,
    lead_layout,
    read_bounded,
    to_float,
    xml_root_name,
)
from asalee_devices.drivers.ecg_files._xml import Lifted, Node, element_text, parse
from asalee_devices.drivers.ecg_files.base import (
    DeviceStatement,
    EcgFile,
    EcgFormat,
    PatientDemographics,
    register_format,
)
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import FormatError, SignalError
from asalee_devices.signal.ecg.recording import (
    EcgRecording,
    canonical_lead_name,
)

NAME = "hl7-aecg"
_UNIT_UV = {"uV": 1.0, "mV": 1000.0, "V": 1e6, "nV": 1e-3}
_UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
#: element names the reader looks for anywhere in the tree (``iter``): a dropped region must not hold them
_SEARCHED = ("annotation", "eries", "subjectDemographicPerson", "trialSubject", "controlVariable")


def sniff(head: bytes, path: Path) -> bool:
    """Whether the first bytes of a file are an HL7 aECG (annotated ECG, XML).

    Parameters
    ----------
    head : bytes
        The first bytes of the file (at least the format's signature).
    path : Path
        The file's path (its name, for formats known by extension).

    Returns
    -------
    bool
        True when this reader recognises the file.
    """
    return xml_root_name(head) == "AnnotatedECG"


def _code(node: Node) -> str:
    c = node.find("code")
    return c.attrib.get("code", "") if c is not None else ""


def _ts(value: str) -> datetime | None:
    digits = value.split(".")[0].split("+")[0].split("-")[0]
    fmt = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 8: "%Y%m%d"}.get(len(digits))
    if fmt is None:
        return None
    try:
        return datetime.strptime(digits, fmt)
    except ValueError:
        return None


_I64 = np.iinfo(np.int64)


def _clipped(arr: NDArray[np.int64]) -> bool:
    """Whether an integer parse met a number beyond the int64 range: ``np.fromstring`` clips it to the limit
    without an error (``99999999999999999999`` reads as 9223372036854775807)."""
    return bool(arr.size) and (int(arr.max()) == _I64.max or int(arr.min()) == _I64.min)


def _digits(text: str | bytes, lead: str) -> NDArray[np.int64] | NDArray[np.float64]:
    """Space-separated numbers: integers on the fast path (int64, exact), decimals on the slow one. A number
    beyond the int64 range (no ECG sample is) is refused rather than read clipped."""
    if not text or text.isspace():  # np.fromstring reads a blank text as one 0
        raise FormatError("aECG lead has no digits", field="lead", value=lead)
    arr: NDArray[np.int64] | NDArray[np.float64]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            ints: NDArray[np.int64] = np.fromstring(text, dtype=np.int64, sep=" ")
            arr = ints
        except (ValueError, DeprecationWarning):
            try:
                arr = np.fromstring(text, dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning) as exc:
                raise FormatError("aECG digits are not a list of numbers", field="lead", value=lead) from exc
            if not np.all(np.isfinite(arr)):
                raise FormatError("aECG digits hold non-finite values", field="lead", value=lead) from None
        else:
            if _clipped(ints):
                raise FormatError("aECG digits hold a number at or beyond the 64-bit integer limits",
                                  field="lead", value=lead, expected=f"integers within +-{_I64.max - 1}")
    return _lead_length_checked(arr, lead)


def _lead_length_checked(arr: NDArray[np.int64] | NDArray[np.float64], lead: str,
                         ) -> NDArray[np.int64] | NDArray[np.float64]:
    """The numbers of one lead, whoever parsed them (:func:`_digits` or :class:`_Integers`): not empty, not
    longer than the limit."""
    if arr.size == 0:
        raise FormatError("aECG lead has no digits", field="lead", value=lead)
    if arr.size > MAX_SAMPLES_PER_LEAD:
        raise FormatError("aECG lead too long", field="samples", value=arr.size,
                          expected=f"<= {MAX_SAMPLES_PER_LEAD}")
    return arr


_WORKER: list[ThreadPoolExecutor] = []


class _Integers:
    """The lifted ``digits`` texts parsed as integers in a worker thread while the rest of the document is parsed.

    ``np.fromstring`` releases the GIL while it parses, and lifting the regions to drop and ElementTree's parser
    hold it, so with a free core the ~1.4 ms of number parsing of a 10 s 12-lead file overlaps them (on a busy
    machine the two simply take turns). The texts are parsed in one call, each followed by a sentinel number, so
    that the worker needs the GIL only to start (the calling thread waits until it is about to parse): between two
    calls it would wait for the GIL until the skeleton parse ends. The result is used only when every sentinel is
    found where expected, i.e. every text is a plain list of integers read to its end (a decimal, a stray character
    or the sentinel value itself in a text stop or shift the parse): otherwise each text goes through
    :func:`_digits`'s own parse, which decides, so the outcome is the same either way."""

    SENTINEL = np.iinfo(np.int64).min + 1
    _SEP = b" " + str(SENTINEL).encode("ascii") + b" "
    MIN_BYTES = 65536  # below, the hand-over costs more than it saves

    def __init__(self) -> None:
        self._future: Future[list[NDArray[np.int64]]] | None = None
        self._values: list[NDArray[np.int64]] | None = None

    @classmethod
    def _parse(cls, joined: bytes, count: int, started: threading.Event) -> list[NDArray[np.int64]]:
        started.set()
        try:
            flat = np.fromstring(joined, dtype=np.int64, sep=" ")
        except Exception:  # any trouble: the texts are parsed one by one instead
            return []
        ends = np.flatnonzero(flat == cls.SENTINEL)
        if ends.size != count or (flat.size and int(ends[-1]) != flat.size - 1) or _clipped(flat):
            return []  # the per-text parse decides (and refuses a clipped number)
        starts = np.concatenate(([0], ends[:-1] + 1))
        return [flat[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]

    def start(self, texts: Lifted) -> None:
        """Start parsing ``texts`` in the worker (nothing when they are too short to be worth it)."""
        if sum(texts.sizes()) < self.MIN_BYTES:
            return
        if not _WORKER:
            _WORKER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="aecg-digits"))
        joined = texts.joined(self._SEP)  # here, not in the worker: its memory stays with this thread's
        started = threading.Event()
        self._future = _WORKER[0].submit(self._parse, joined, len(texts), started)
        started.wait(0.05)  # let the worker take the GIL once and enter the parse (not if it is busy elsewhere)

    def settle(self) -> list[NDArray[np.int64]]:
        """The worker's result (waiting for it; empty when it did not run or could not parse every text)."""
        if self._values is None:
            self._values = self._future.result() if self._future is not None else []
        return self._values

    def get(self, root: Node, node: Node) -> NDArray[np.int64] | None:
        index = root.bulk_index(node.text)
        values = self.settle() if index is not None else []
        return values[index] if index is not None and index < len(values) else None


#: one lead of a sequence set: the stored numbers, the scale (µV per unit) and the origin (µV)
_Lead = tuple[NDArray[np.int64] | NDArray[np.float64], float, float]


def _sequence_set(root: Node, ss: Node, dev: Deviations, what: str, ints: _Integers,
                  ) -> tuple[dict[str, _Lead], float, float]:
    """Leads (stored numbers, scale, origin), sampling rate and the common quantisation step of one sequenceSet."""
    fs: float | None = None
    leads: dict[str, _Lead] = {}
    steps: set[float] = set()
    for comp in ss.findall("component"):
        seq = comp.find("sequence")
        if seq is None:
            continue
        code = _code(seq)
        value = seq.find("value")
        if value is None:
            continue
        if code.startswith("TIME_"):
            inc = value.find("increment")
            if inc is None:
                raise FormatError("aECG time sequence has no increment", field="sequence", value=code)
            step = to_float(inc.attrib.get("value"))
            unit = _UNIT_S.get(inc.attrib.get("unit", "s"))
            if step is None or unit is None or step <= 0:
                raise FormatError("aECG time increment invalid", field="increment",
                                  value=inc.attrib.get("value"), expected="> 0 s")
            fs = 1.0 / (step * unit)
            continue
        if not code.startswith("MDC_ECG_LEAD_"):
            dev.note("unknown_sequence", f"{what}: sequence {code!r} ignored")
            continue
        try:
            name = canonical_lead_name(code)
        except SignalError:
            dev.note("unknown_lead", f"{what}: lead {code!r} not supported; ignored")
            continue
        origin_n, scale_n = value.find("origin"), value.find("scale")
        scale = to_float(scale_n.attrib.get("value")) if scale_n is not None else None
        scale_unit = _UNIT_UV.get(scale_n.attrib.get("unit", "uV")) if scale_n is not None else None
        origin = to_float(origin_n.attrib.get("value")) if origin_n is not None else 0.0
        origin_unit = _UNIT_UV.get(origin_n.attrib.get("unit", "uV")) if origin_n is not None else 1.0
        if scale is None or scale_unit is None or origin is None or origin_unit is None:
            raise FormatError("aECG lead scale or origin missing or invalid", field="lead", value=name)
        if scale == 0:
            raise FormatError("aECG lead scale is zero", field="scale", value=0, expected="> 0")
        if name in leads:
            raise FormatError("aECG lead given twice", field="lead", value=name)
        digits = value.find("digits")
        if digits is None:
            raise FormatError("aECG lead has no digits", field="lead", value=name)
        k = scale * scale_unit
        parsed = ints.get(root, digits)
        numbers = _digits(root.content(digits), name) if parsed is None else _lead_length_checked(parsed, name)
        leads[name] = (numbers, k, origin * origin_unit)
        steps.add(k)
        if len(leads) > MAX_LEADS:
            raise FormatError("Too many aECG leads", field="leads", value=len(leads), expected=f"<= {MAX_LEADS}")
    if fs is None:
        raise FormatError(f"aECG {what} has no time sequence", field="sequenceSet")
    if not leads:
        raise FormatError(f"aECG {what} has no lead", field="sequenceSet")
    return leads, fs, (steps.pop() if len(steps) == 1 else 0.0)


def _recording(leads: dict[str, _Lead], fs: float, step: float, dev: Deviations, what: str,
               **kw: object) -> EcgRecording:
    n = {a[0].size for a in leads.values()}
    if len(n) != 1:
        dev.warn("unequal_lead_lengths", f"{what}: leads have different lengths; the shortest length is kept")
    m = min(n)
    # the final array (stored + derived leads, standard order) is allocated once: each stored lead is scaled
    # into its row (number x scale + origin, in float64), the limb leads are derived in place
    names, derived = lead_layout(leads)
    samples = np.empty((len(names), m))
    for row, name in enumerate(names):
        if name in leads:
            values, k, offset = leads[name]
            out = samples[row]
            np.multiply(values[:m], k, out=out)
            out += offset
    derive_limb_leads(samples, names, derived)
    try:
        return EcgRecording(samples, fs, names, resolution_uv=step or None, derived_leads=derived,
                            **kw)  # type: ignore[arg-type]
    except SignalError as exc:
        raise FormatError(f"aECG {what} cannot form a recording", field="leads", value=str(exc)) from exc


def _filters(series: Node) -> tuple[float | None, float | None, list[float]]:
    hp = lp = None
    notch: list[float] = []
    for cv in series.iter("controlVariable"):
        code = _code(cv)
        if not code.startswith("MDC_ECG_CTL_VBL_ATTR_FILTER"):
            continue
        freq = None
        for sub in cv.iter("controlVariable"):
            if _code(sub) == "MDC_ECG_CTL_VBL_ATTR_FILTER_CUTOFF_FREQ":
                v = sub.find("value")
                freq = to_float(v.attrib.get("value")) if v is not None else None
        if freq is None:
            continue
        if code.endswith("LOW_PASS"):
            lp = freq
        elif code.endswith("HIGH_PASS"):
            hp = freq
        elif code.endswith("NOTCH"):
            notch.append(freq)
    return hp, lp, notch


def _annotations(root: Node) -> list[DeviceStatement]:
    """Device annotations (measurements, rhythm and beat statements), each distinct one once; wave-component
    markers (``MDC_ECG_WAVC*``, per-beat fiducials) are left out. (Walks the ElementTree elements directly:
    there are hundreds of annotations, most of them repeats of a few statements (per lead, per beat), which are
    recognised by their raw code and value before anything is converted.)"""
    out: list[DeviceStatement] = []
    seen: set[DeviceStatement] = set()
    seen_raw: set[tuple[str, str | None, str | None, str | None, str | None, str]] = set()
    code_tag, value_tag = root.ns + "code", root.ns + "value"
    for ann in root.element.iter(root.ns + "annotation"):
        c = ann.find(code_tag)
        code = c.get("code", "") if c is not None else ""
        if not code or code.startswith("MDC_ECG_WAVC"):
            continue
        v = ann.find(value_tag)
        if v is None:
            continue
        get = v.get
        raw = (code, get("value"), get("unit"), get("code"), get("displayName"),
               (v.text or "") if len(v) == 0 else element_text(v))
        if raw in seen_raw:
            continue
        seen_raw.add(raw)
        num = to_float(raw[1])
        text = raw[5].strip()
        if num is not None:
            st = DeviceStatement("measurement", code, value=num, unit=get("unit", ""))
        elif text:
            st = DeviceStatement("statement", code, text=text)
        elif get("code"):
            st = DeviceStatement("statement", code, text=get("displayName", get("code")))
        else:
            continue
        if st not in seen:
            seen.add(st)
            out.append(st)
    return out


def read(path: Path, strict: bool = False) -> EcgFile:
    """Read an HL7 aECG (annotated ECG, XML).

    Parameters
    ----------
    path : Path
        The file.
    strict : bool, optional
        Refuse the deviations from the format the reader otherwise tolerates (and reports as warnings).

    Returns
    -------
    EcgFile
        The recording (µV, Hz), device, acquisition time, patient demographics, device statements and warnings.

    Raises
    ------
    FormatError
        When the file cannot be read, is malformed, or (``strict``) deviates from the format.
    """
    return decode(read_bounded(path), strict)


def _patient(root: Node) -> PatientDemographics:
    person = next(root.iter("subjectDemographicPerson"), None)
    subject = next(root.iter("trialSubject"), None)
    pid = ""
    if subject is not None and subject.find("id") is not None:
        pid = subject.find("id").attrib.get("extension", "")  # type: ignore[union-attr]
    if person is not None:
        name = person.find("name")
        given = name.findtext("given") if name is not None else ""
        family = name.findtext("family") if name is not None else ""
        if name is not None and not given and not family:
            family = name.text.strip()
        sex_node = person.find("administrativeGenderCode")
        sex = {"M": "male", "F": "female"}.get(sex_node.attrib.get("code", "") if sex_node else "", "")
        birth_node = person.find("birthTime")
        birth = _ts(birth_node.attrib.get("value", "")) if birth_node is not None else None
        return PatientDemographics(patient_id=pid, family_name=family, given_name=given,
                                  birth_date=birth.date().isoformat() if birth else "", sex=sex)
    return PatientDemographics()


def decode(data: bytes, strict: bool = False) -> EcgFile:
    """Decode the bytes of an HL7 aECG (annotated ECG, XML).

    Parameters
    ----------
    data : bytes
        The whole file.
    strict : bool, optional
        Refuse the deviations from the format the reader otherwise tolerates (and reports as warnings).

    Returns
    -------
    EcgFile
        The recording (µV, Hz), device, acquisition time, patient demographics, device statements and warnings.

    Raises
    ------
    FormatError
        When the data are malformed or (``strict``) deviate from the format.
    """
    ints = _Integers()
    try:
        return _decode(data, strict, ints)
    finally:
        ints.settle()  # the worker is done with this document before decode returns, whatever the outcome


def _decode(data: bytes, strict: bool, ints: _Integers) -> EcgFile:
    dev = Deviations("HL7 aECG", strict)
    # the regions of interest of the annotations (``support``: ROI boundaries, a third of the document's elements)
    # are never read: they are cut before parsing, unless they hold anything the reader searches the tree for.
    # The digits are parsed by the worker meanwhile; what does not need them (annotations, subject) is read
    # first, so that the wait for the worker, if any, comes as late as possible
    root = parse(data, "HL7 aECG", bulk=("digits",), drop=("support",), keep=_SEARCHED, alongside=ints.start)
    if root.tag != "AnnotatedECG":
        raise FormatError("Not an HL7 aECG document", field="root", value=root.tag, expected="AnnotatedECG")
    device_data = tuple(_annotations(root))
    patient = _patient(root)
    rhythm: EcgRecording | None = None
    median: EcgRecording | None = None
    device = DeviceIdentity(source=NAME)
    acquired = None
    for series in list(root.iter("series")) + list(root.iter("derivedSeries")):
        kind = _code(series)
        ss = next((c.find("sequenceSet") for c in series.findall("component") if c.find("sequenceSet")), None)
        if ss is None:
            continue
        if kind == "RHYTHM" and rhythm is None:
            leads, fs, step = _sequence_set(root, ss, dev, "rhythm", ints)
            hp, lp, notch = _filters(series)
            rhythm = _recording(leads, fs, step, dev, "rhythm", device_filters=filter_steps(hp, lp, notch))
            low = series.find("effectiveTime", "low")
            acquired = _ts(low.attrib.get("value", "")) if low is not None else None
            dev_node = series.find("author", "seriesAuthor", "manufacturedSeriesDevice")
            org = series.find("author", "seriesAuthor", "manufacturerOrganization")
            if dev_node is not None:
                idn = dev_node.find("id")
                device = DeviceIdentity(
                    manufacturer=org.findtext("name") if org is not None else "",
                    model=dev_node.findtext("manufacturerModelName"),
                    serial_number=idn.attrib.get("extension", "") if idn is not None else "",
                    firmware=dev_node.findtext("softwareName"), source=NAME)
        elif kind == "REPRESENTATIVE_BEAT" and median is None:
            leads, fs, step = _sequence_set(root, ss, dev, "representative beats", ints)
            median = _recording(leads, fs, step, dev, "representative beats")
    if rhythm is None:
        raise FormatError("aECG document has no rhythm series", field="series", expected="code RHYTHM")
    return EcgFile(format=NAME, recording=rhythm, device=device, acquired_at=acquired, patient=patient,
                   device_data=device_data, warnings=dev.as_tuple(), median_beats=median,
                   format_version="PORT_MT020001")


register_format(EcgFormat(NAME, "HL7 aECG (FDA annotated ECG XML)", sniff, read, decode))
