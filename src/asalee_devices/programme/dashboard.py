"""The practice's monthly dashboard ("Tableau de bord"): indicators per practice, per nurse and per GP, computed by
DuckDB queries over the indicators store (``programme.indicators``) and the outbox's delivery states.

The result is a flat list of :class:`Indicator` rows (scope, scope id, indicator key, value, unit) that the CSV,
the PDF (``reports.dashboard_pdf``) and the web page all show unchanged, so what a nurse reads, what the CSV says
and what a test recomputes are the same figures. Counts are measured counts, never a diagnosis: "sessions with
FEV1/FVC below the LLN" counts sessions whose measured ratio is under the reference equation's 5th centile.
Calibration verification: days with a spirometry whose device had a passed syringe verification that day (the
state each examination stored in its manifest); "non disponible" (not zero) when no examination recorded it.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from asalee_devices.errors import FormatError, InputError
from asalee_devices.programme.protocols import protocol_label

if TYPE_CHECKING:
    from asalee_devices.config import Config

TREND_MONTHS = 6
SCOPES = ("practice", "nurse", "gp")

#: indicator key -> (French label, English label, unit)
LABELS: dict[str, tuple[str, str, str]] = {
    "exams": ("Examens", "Examinations", ""),
    "spirometry_sessions": ("Séances de spirométrie", "Spirometry sessions", ""),
    "grade_fev1_A": ("Séances grade A (VEMS)", "Sessions grade A (FEV1)", ""),
    "grade_fev1_B": ("Séances grade B (VEMS)", "Sessions grade B (FEV1)", ""),
    "grade_fev1_C": ("Séances grade C (VEMS)", "Sessions grade C (FEV1)", ""),
    "grade_fvc_A": ("Séances grade A (CVF)", "Sessions grade A (FVC)", ""),
    "grade_fvc_B": ("Séances grade B (CVF)", "Sessions grade B (FVC)", ""),
    "grade_fvc_C": ("Séances grade C (CVF)", "Sessions grade C (FVC)", ""),
    "blows": ("Essais (souffles)", "Blows", ""),
    "acceptable_fev1_blows": ("Essais acceptables (VEMS)", "Acceptable blows (FEV1)", ""),
    "acceptable_fev1_rate": ("Taux d'essais acceptables (VEMS)", "Acceptable-blow rate (FEV1)", "%"),
    "below_lln_sessions": ("Séances avec VEMS/CVF mesuré sous la LIN", "Sessions with measured FEV1/FVC below LLN",
                           ""),
    "calibration_days": ("Jours d'examen avec vérification d'étalonnage",
                         "Examination days with a calibration verification", ""),
    "spirometry_days": ("Jours avec spirométrie", "Days with spirometry", ""),
    "ecg_exams": ("ECG", "ECGs", ""),
    "ecg_first_acceptable": ("ECG de qualité acceptable au 1er enregistrement",
                             "ECGs technically acceptable at the first capture", ""),
    "ecg_first_acceptable_rate": ("Taux de qualité acceptable au 1er enregistrement",
                                  "Acceptable at the first capture", "%"),
    "ecg_retakes": ("Enregistrements ECG refaits", "ECG retakes", ""),
    "ecg_awaiting_gp": ("ECG en attente de lecture par le médecin", "ECGs awaiting the GP's reading", ""),
    "ecg_gp_delay_median_h": ("Délai médian jusqu'à la lecture du médecin", "Median delay to the GP's reading",
                              "h"),
    "delivery_waiting": ("Examens en attente d'envoi", "Examinations waiting to be sent", ""),
    "delivery_failed": ("Examens dont l'envoi a échoué", "Examinations whose delivery failed", ""),
}
NOT_AVAILABLE = {"fr": "non disponible", "en": "not available"}


def _reason_text(code: str, lang: str) -> str:
    """The ATS/ERS reason's nurse message, its first clause (e.g. "Démarrage hésitant"), with the code."""
    from asalee_devices.messages.spirometry import reason_message

    text = reason_message(code, "en" if lang == "en" else "fr")
    if text is None:
        return code
    return f"{text.split(' — ')[0]} ({code})"


@dataclass(frozen=True)
class Indicator:
    scope: str  # practice | nurse | gp | trend
    scope_id: str
    key: str  # LABELS key, or protocol:<code>, failure_reason:<code>, electrode_off:<lead>, trend:<key>:<month>
    value: float | None  # None = not available (see ``note``)
    note: str = ""

    def label(self, lang: str) -> str:
        kind, _, rest = self.key.partition(":")
        if kind == "protocol":
            return protocol_label(rest, lang)
        if kind == "failure_reason":
            return ("Motif d'échec : " if lang == "fr" else "Failure reason: ") + _reason_text(rest, lang)
        if kind == "electrode_off":
            return ("Électrode déconnectée : " if lang == "fr" else "Electrode off: ") + rest
        if kind == "trend":
            base, _, month = rest.rpartition(":")
            return f"{self._base_label(base, lang)} ({month})"
        return self._base_label(self.key, lang)

    @staticmethod
    def _base_label(key: str, lang: str) -> str:
        fr, en, _unit = LABELS.get(key, (key, key, ""))
        return en if lang == "en" else fr

    @property
    def unit(self) -> str:
        base = self.key.split(":")[1] if self.key.startswith("trend:") else self.key
        return LABELS.get(base, ("", "", ""))[2]

    def text(self, lang: str = "fr") -> str:
        if self.value is None:
            return NOT_AVAILABLE["en" if lang == "en" else "fr"]
        v = f"{self.value:.1f}" if self.unit in ("%", "h") else f"{self.value:.0f}"
        if lang == "fr":
            v = v.replace(".", ",")
        return f"{v} {self.unit}".strip()


@dataclass(frozen=True)
class Dashboard:
    month: str
    practice_id: str
    practice_name: str
    generated_at: datetime
    indicators: tuple[Indicator, ...]
    names: dict[str, str] = field(default_factory=dict)  # nurse/GP code -> name (local display only)

    def value(self, scope: str, scope_id: str, key: str) -> float | None:
        for i in self.indicators:
            if (i.scope, i.scope_id, i.key) == (scope, scope_id, key):
                return i.value
        raise KeyError((scope, scope_id, key))

    def scope_ids(self, scope: str) -> list[str]:
        return sorted({i.scope_id for i in self.indicators if i.scope == scope})

    def of(self, scope: str, scope_id: str) -> list[Indicator]:
        return [i for i in self.indicators if (i.scope, i.scope_id) == (scope, scope_id)]

    def display_name(self, scope_id: str) -> str:
        return self.names.get(scope_id, scope_id or "—")

    def csv_bytes(self, lang: str = "fr") -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n", delimiter=";")
        w.writerow(["mois", "cabinet", "niveau", "code", "indicateur", "libelle", "valeur", "unite", "note"]
                   if lang == "fr" else
                   ["month", "practice", "scope", "code", "indicator", "label", "value", "unit", "note"])
        for i in self.indicators:
            w.writerow([self.month, self.practice_id, i.scope, i.scope_id, i.key, i.label(lang),
                        "" if i.value is None else repr(float(i.value)), i.unit,
                        i.note or ("" if i.value is not None else NOT_AVAILABLE[lang])])
        return buf.getvalue().encode("utf-8")

    def view(self, lang: str = "fr") -> dict[str, Any]:
        """JSON for the web page."""
        return {"month": self.month, "practice_id": self.practice_id, "practice_name": self.practice_name,
                "generated_at": self.generated_at.isoformat(timespec="seconds"),
                "scopes": {s: [{"id": sid, "name": self.display_name(sid),
                                "indicators": [{"key": i.key, "label": i.label(lang), "value": i.value,
                                                "text": i.text(lang), "unit": i.unit} for i in self.of(s, sid)]}
                               for sid in self.scope_ids(s)] for s in (*SCOPES, "trend")}}


def previous_months(month: str, n: int) -> list[str]:
    y, m = (int(x) for x in month.split("-"))
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def _outbox_table(outbox: Path) -> pa.Table:
    schema = pa.schema([("exam_id", pa.string()), ("kind", pa.string()), ("state", pa.string()),
                        ("created_at", pa.float64())])
    if not outbox.is_file():
        return schema.empty_table()
    try:
        db = sqlite3.connect(f"file:{outbox.as_posix()}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute("SELECT exam_id, kind, state, created_at FROM messages").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise FormatError(f"The outbox cannot be read ({exc})", field="outbox", value=str(outbox)) from None
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)


_SCOPED = """
CREATE TEMP VIEW scoped AS
SELECT e.*, sc.scope AS scope, sc.id AS scope_id FROM (
  SELECT *, unnest([{'scope': 'practice', 'id': practice_id}, {'scope': 'nurse', 'id': nurse_code},
                    {'scope': 'gp', 'id': gp_code}]) AS sc FROM exams) e
"""

_DELIVERY = """
CREATE TEMP VIEW delivery AS
SELECT regexp_replace(exam_id, '-post$', '') AS exam_id,
       CASE WHEN bool_or(state = 'failed') THEN 'failed'
            WHEN bool_and(state = 'acknowledged') THEN 'sent' ELSE 'waiting' END AS status
FROM outbox WHERE kind IN ('spirometry', 'spirometry-post', 'ecg') GROUP BY 1;
CREATE TEMP VIEW reading AS
SELECT exam_id, min(created_at) AS read_at FROM outbox WHERE kind LIKE 'ecg-interpretation%' GROUP BY 1;
"""

_MAIN = """
SELECT s.scope, s.scope_id,
  count(*) AS exams,
  count(*) FILTER (WHERE kind = 'spirometry') AS spirometry_sessions,
  count(*) FILTER (WHERE grade_fev1 = 'A') AS grade_fev1_A,
  count(*) FILTER (WHERE grade_fev1 = 'B') AS grade_fev1_B,
  count(*) FILTER (WHERE grade_fev1 = 'C') AS grade_fev1_C,
  count(*) FILTER (WHERE grade_fvc = 'A') AS grade_fvc_A,
  count(*) FILTER (WHERE grade_fvc = 'B') AS grade_fvc_B,
  count(*) FILTER (WHERE grade_fvc = 'C') AS grade_fvc_C,
  coalesce(sum(blows), 0) AS blows,
  coalesce(sum(acceptable_fev1_blows), 0) AS acceptable_fev1_blows,
  100.0 * sum(acceptable_fev1_blows) / nullif(sum(blows), 0) AS acceptable_fev1_rate,
  count(*) FILTER (WHERE below_lln) AS below_lln_sessions,
  CASE WHEN count(calibration_verified) = 0 THEN NULL
       ELSE count(DISTINCT performed_on) FILTER (WHERE calibration_verified) END AS calibration_days,
  count(DISTINCT performed_on) FILTER (WHERE kind = 'spirometry') AS spirometry_days,
  count(*) FILTER (WHERE kind = 'ecg') AS ecg_exams,
  count(*) FILTER (WHERE first_capture_acceptable) AS ecg_first_acceptable,
  100.0 * count(*) FILTER (WHERE first_capture_acceptable) / nullif(count(*) FILTER (WHERE kind = 'ecg'), 0)
    AS ecg_first_acceptable_rate,
  coalesce(sum(retakes), 0) AS ecg_retakes,
  count(*) FILTER (WHERE kind = 'ecg' AND r.read_at IS NULL) AS ecg_awaiting_gp,
  median((r.read_at - epoch(performed_at)) / 3600.0) FILTER (WHERE kind = 'ecg') AS ecg_gp_delay_median_h,
  count(*) FILTER (WHERE d.status = 'waiting' OR d.status IS NULL) AS delivery_waiting,
  count(*) FILTER (WHERE d.status = 'failed') AS delivery_failed
FROM scoped s LEFT JOIN delivery d USING (exam_id) LEFT JOIN reading r USING (exam_id)
WHERE s.month = $month
GROUP BY 1, 2 ORDER BY 1, 2
"""

_PROTOCOLS = """
SELECT scope, scope_id, protocol, count(*) FROM scoped WHERE month = $month GROUP BY ALL ORDER BY ALL
"""
_REASONS = """
SELECT scope, scope_id, reason, count(*) AS n FROM (
  SELECT scope, scope_id, unnest(failure_reasons) AS reason FROM scoped WHERE month = $month)
GROUP BY ALL ORDER BY scope, scope_id, n DESC, reason
"""
_ELECTRODES = """
SELECT scope, scope_id, lead, count(*) AS n FROM (
  SELECT scope, scope_id, unnest(electrode_off) AS lead FROM scoped WHERE month = $month)
GROUP BY ALL ORDER BY scope, scope_id, n DESC, lead
"""
_TREND = """
SELECT month, count(*) AS exams,
  100.0 * sum(acceptable_fev1_blows) / nullif(sum(blows), 0) AS acceptable_fev1_rate,
  100.0 * count(*) FILTER (WHERE first_capture_acceptable) / nullif(count(*) FILTER (WHERE kind = 'ecg'), 0)
    AS ecg_first_acceptable_rate
FROM exams GROUP BY month ORDER BY month
"""
TOP_REASONS = 3


def compute(files: Sequence[Path], *, month: str, practice: str, outbox: Path, practice_name: str = "",
            names: dict[str, str] | None = None, now: datetime | None = None) -> Dashboard:
    """The dashboard of ``month`` from the indicators files ``files`` (the month and the previous ones for the
    trend), restricted to ``practice``."""
    import duckdb

    from asalee_devices.programme.indicators import COMPACTED, SCHEMA

    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        if files:
            file_list = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            try:
                # one row per examination: a per-examination file wins over the month's compacted file
                con.execute(f"CREATE TEMP VIEW all_rows AS SELECT * EXCLUDE (filename) FROM read_parquet("
                            f"[{file_list}], hive_partitioning = false, union_by_name = true, filename = true) "
                            f"QUALIFY row_number() OVER (PARTITION BY exam_id ORDER BY "
                            f"ends_with(filename, '{COMPACTED}')) = 1")
            except duckdb.Error as exc:
                raise FormatError(f"Indicators store unreadable ({exc})", field="indicators",
                                  expected="run asalee-devices dashboard --rebuild") from None
        else:
            con.register("empty_rows", SCHEMA.empty_table())
            con.execute("CREATE TEMP VIEW all_rows AS SELECT * FROM empty_rows")
        quoted = "'" + practice.replace("'", "''") + "'"
        con.execute(f"CREATE TEMP TABLE exams AS SELECT * FROM all_rows WHERE practice_id = {quoted}")
        con.register("outbox", _outbox_table(outbox))
        con.execute(_SCOPED)
        for stmt in filter(None, (s.strip() for s in _DELIVERY.split(";"))):
            con.execute(stmt)
        out: list[Indicator] = []
        cur = con.execute(_MAIN, {"month": month})
        columns = [d[0] for d in cur.description or ()]
        main = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
        keys = [k for k in LABELS if k in (main[0] if main else {})]
        for row in main:
            for k in keys:
                v = row[k]
                out.append(Indicator(row["scope"], row["scope_id"], k, None if v is None else float(v),
                                     "non disponible : état d'étalonnage non enregistré" if k == "calibration_days"
                                     and v is None else ""))
        for scope, sid, proto, n in con.execute(_PROTOCOLS, {"month": month}).fetchall():
            out.append(Indicator(scope, sid, f"protocol:{proto}", float(n)))
        seen: dict[tuple[str, str], int] = {}
        for scope, sid, reason, n in con.execute(_REASONS, {"month": month}).fetchall():
            group = (scope, sid)
            seen[group] = seen.get(group, 0) + 1
            if seen[group] <= TOP_REASONS:
                out.append(Indicator(scope, sid, f"failure_reason:{reason}", float(n)))
        for scope, sid, lead, n in con.execute(_ELECTRODES, {"month": month}).fetchall():
            out.append(Indicator(scope, sid, f"electrode_off:{lead}", float(n)))
        trend = {r[0]: r for r in con.execute(_TREND).fetchall()}
        for m in previous_months(month, TREND_MONTHS):
            r = trend.get(m)
            out.append(Indicator("trend", practice, f"trend:exams:{m}", float(r[1]) if r else 0.0))
            for j, k in ((2, "acceptable_fev1_rate"), (3, "ecg_first_acceptable_rate")):
                out.append(Indicator("trend", practice, f"trend:{k}:{m}",
                                     None if r is None or r[j] is None else float(r[j])))
    finally:
        con.close()
    return Dashboard(month, practice, practice_name, now or datetime.now(UTC), tuple(out), names or {})


def dashboard_for(config: Config, *, month: str | None = None, practice: str | None = None,
                  now: datetime | None = None) -> Dashboard:
    """The configured practice's dashboard (default: this month)."""
    from asalee_devices.fhir_out.context import PerformerContext
    from asalee_devices.programme.evaluation import MONTH_RE
    from asalee_devices.programme.indicators import (
        compact,
        month_files,
        practice_id,
        professional_code,
        store_path,
    )

    when = now or datetime.now(UTC)
    month = month or when.strftime("%Y-%m")
    if not MONTH_RE.fullmatch(month):
        raise InputError("Bad month", field="--month", value=month, expected="YYYY-MM")
    store = store_path(config)
    for m in previous_months(month, TREND_MONTHS):
        compact(store, m)  # one file per month instead of one per examination: the dashboard reads fast
    files = [f for m in previous_months(month, TREND_MONTHS) for f in month_files(store, m)]
    names: dict[str, str] = {}
    for cfg in (config.nurse, config.gp):
        if cfg.family_name:
            who = PerformerContext(cfg.family_name, cfg.given_name, rpps=cfg.rpps, adeli=cfg.adeli)
            names[professional_code(who)] = f"{cfg.given_name} {cfg.family_name}".strip()
    return compute(files, month=month, practice=practice or practice_id(config), outbox=Path(config.outbox),
                   practice_name=config.practice.name, names=names, now=when)
