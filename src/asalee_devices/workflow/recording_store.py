"""Raw recordings kept on disk, losslessly, so an examination can be replayed and audited.

One ``.npz`` file per recording (numpy's zip of arrays, read back with ``allow_pickle=False``: no code execution on
load) holding the sample arrays and a UTF-8 JSON metadata document. The content digest (sha256 over the canonical
arrays and metadata, independent of zip timestamps) identifies the raw recording in FHIR Provenance.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import FormatError
from asalee_devices.files import atomic_write
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.filters import FilterStep
from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording

FORMAT = "asalee-recording"
VERSION = 1
MAX_STORED_BYTES = 256 * 1024 * 1024


def _digest(arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _flow_parts(rec: FlowRecording) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    arrays: dict[str, NDArray[Any]] = {"flow_l_s": rec.flow_l_s}
    if rec.device_volume_l is not None:
        arrays["device_volume_l"] = rec.device_volume_l
    btps = asdict(rec.btps)
    if not btps["conditions_from"]:  # added in v1 without a version change: absent when unset, so recordings
        del btps["conditions_from"]  # written before it keep their digest (and their examination id)
    meta = {"format": FORMAT, "version": VERSION, "kind": "flow", "fs_hz": rec.fs_hz, "btps": btps,
            "interrupted": rec.interrupted, "gaps": [list(g) for g in rec.gaps]}
    return arrays, meta


def _ecg_parts(rec: EcgRecording) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    arrays: dict[str, NDArray[Any]] = {"samples_uv": rec.samples_uv}
    if rec.lead_off is not None:
        arrays["lead_off"] = rec.lead_off
    meta = {"format": FORMAT, "version": VERSION, "kind": "ecg", "fs_hz": rec.fs_hz, "leads": list(rec.leads),
            "resolution_uv": rec.resolution_uv, "derived_leads": sorted(rec.derived_leads),
            "pacemaker": rec.pacemaker, "device_filters": [asdict(f) for f in rec.device_filters],
            "applied_filters": [asdict(f) for f in rec.applied_filters], "interrupted": rec.interrupted,
            "gaps": [list(g) for g in rec.gaps]}
    return arrays, meta


def recording_digest(rec: FlowRecording | EcgRecording) -> str:
    """sha256 (hex) of the recording's content: the same samples and metadata always give the same digest."""
    arrays, meta = _flow_parts(rec) if isinstance(rec, FlowRecording) else _ecg_parts(rec)
    return _digest(arrays, meta)


def save_recording(rec: FlowRecording | EcgRecording, path: Path, *, digest: str | None = None) -> str:
    """Write ``rec`` to ``path`` atomically (temp file + rename) and return its content digest (``digest``: the
    one :func:`recording_digest` already gave for ``rec``, not computed again)."""
    arrays, meta = _flow_parts(rec) if isinstance(rec, FlowRecording) else _ecg_parts(rec)
    digest = digest or _digest(arrays, meta)
    meta["sha256"] = digest
    buf = io.BytesIO()
    payload: dict[str, Any] = dict(arrays)
    payload["meta_json"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    np.savez(buf, **payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())
    return digest


def _filters(items: list[dict[str, Any]]) -> tuple[FilterStep, ...]:
    return tuple(FilterStep(**f) for f in items)


def load_recording(path: Path) -> FlowRecording | EcgRecording:
    """Read a recording written by :func:`save_recording`; the stored digest is checked against the content."""
    size = path.stat().st_size
    if size > MAX_STORED_BYTES:
        raise FormatError("Stored recording too large", field="path", value=f"{size} bytes",
                          expected=f"<= {MAX_STORED_BYTES} bytes")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta_json"]).decode("utf-8"))
            arrays = {k: z[k] for k in z.files if k != "meta_json"}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise FormatError("Not a stored asalee recording", field="path", value=path.name,
                          expected="a .npz written by asalee-devices") from exc
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise FormatError("Unsupported stored recording", field="format",
                          value=f"{meta.get('format')} v{meta.get('version')}", expected=f"{FORMAT} v{VERSION}")
    stored = meta.pop("sha256", None)
    if _digest(arrays, meta) != stored:
        raise FormatError("Stored recording is corrupted (content digest mismatch)", field="sha256",
                          value=path.name, expected="the digest written with the recording")
    gaps = tuple((int(a), int(b)) for a, b in meta["gaps"])
    if meta["kind"] == "flow":
        return FlowRecording(flow_l_s=arrays["flow_l_s"], fs_hz=float(meta["fs_hz"]),
                             btps=BtpsCorrection(**meta["btps"]), interrupted=bool(meta["interrupted"]), gaps=gaps,
                             device_volume_l=arrays.get("device_volume_l"))
    if meta["kind"] == "ecg":
        return EcgRecording(samples_uv=arrays["samples_uv"], fs_hz=float(meta["fs_hz"]), leads=tuple(meta["leads"]),
                            resolution_uv=meta["resolution_uv"], lead_off=arrays.get("lead_off"),
                            derived_leads=frozenset(meta["derived_leads"]), pacemaker=meta["pacemaker"],
                            device_filters=_filters(meta["device_filters"]),
                            applied_filters=_filters(meta["applied_filters"]), interrupted=bool(meta["interrupted"]),
                            gaps=gaps)
    raise FormatError("Unknown stored recording kind", field="kind", value=str(meta["kind"]), expected="flow or ecg")
