"""fhir_out package."""
