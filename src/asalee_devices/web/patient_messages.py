"""French wording of the patient identity checks for the nurse's page (the checks themselves, and their English
wording shared with the CLI, live in ``fhir_out.context`` / ``fhir_out.pipeline``). Unknown messages stay as is."""

from __future__ import annotations

from asalee_devices.errors import PatientDataError

FR: dict[str, str] = {
    "Patient family name is missing": "Nom de naissance manquant",
    "Patient given name is missing": "Prénom de naissance manquant",
    "Patient birth date is missing or not a date": "Date de naissance manquante ou invalide",
    "Invalid administrative sex": "Sexe administratif invalide",
    "Unknown INS kind": "Système INS inconnu",
    "INS must have 15 characters (NIR + 2-digit key)": "L'INS doit comporter 15 caractères (NIR + clé à 2 chiffres)",
    "INS (NIR) check key is invalid": "Clé de contrôle de l'INS (NIR) invalide : vérifier la saisie",
    "INS sex digit does not match the patient's sex": "Le premier chiffre de l'INS ne correspond pas au sexe",
    "INS birth year does not match the birth date":
        "L'année de naissance de l'INS (2e et 3e chiffres) ne correspond pas à la date de naissance",
    "INS birth month does not match the birth date":
        "Le mois de naissance de l'INS (4e et 5e chiffres) ne correspond pas à la date de naissance",
    "Birth place (INSEE COG code) is required with an INS":
        "Lieu de naissance (code COG INSEE à 5 caractères) obligatoire avec un INS",
    "An INS identity has a male or female sex": "Une identité INS a un sexe masculin ou féminin",
    "An INS may be sent only for a qualified identity":
        "Un INS ne peut être envoyé que pour une identité qualifiée (cocher « identité qualifiée »)",
    "Qualified identity without its INS": "Identité qualifiée sans son INS",
    "Patient has neither an INS nor a local identifier": "Ni INS ni numéro patient du cabinet",
    "Local identifier without its system": "Numéro patient sans son système (URI)",
    "Test/demo INS system used outside test mode": "Système INS de test ou de démonstration hors mode test",
    "Mandatory patient fields are missing": "Champs obligatoires manquants",
    "Birth date is not a date": "Date de naissance invalide (JJ/MM/AAAA)",
    "Unknown patient fields": "Champs patient inconnus",
}


def message(exc: PatientDataError, lang: str) -> str:
    """The nurse's message for ``exc``: its French wording, else the CLI's message; never the internal field id
    (the page shows the field itself)."""
    if lang == "fr" and exc.message in FR:
        return FR[exc.message]
    return exc.message
