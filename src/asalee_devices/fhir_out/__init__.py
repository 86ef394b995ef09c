"""FHIR R4 output (fhir.resources R4B models): context types, bundle builders, outbox and sinks.

Heavy imports (fhir.resources) happen inside the builders; importing this package stays light.
"""

from asalee_devices.fhir_out._build import to_json
from asalee_devices.fhir_out.context import (
    Bronchodilator,
    Calibration,
    ExamContext,
    PatientContext,
    PerformerContext,
    check_patient,
    sha256_hex,
)
from asalee_devices.fhir_out.ecg import ecg_bundle
from asalee_devices.fhir_out.spirometry import spirometry_bundle

__all__ = ["Bronchodilator", "Calibration", "ExamContext", "PatientContext", "PerformerContext", "check_patient", "ecg_bundle",
           "sha256_hex", "spirometry_bundle", "to_json"]
