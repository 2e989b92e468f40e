#!/usr/bin/env node
// Example Node.js client of the stampauth gRPC API (stampauth.v1.StampAuthService), with
// @grpc/grpc-js and @grpc/proto-loader (the .proto files are loaded at run time, no code generation).
//
//   npm ci
//   STAMPAUTH_TOKEN=<token> node example.js --server localhost:50051
//
// It checks the server's health, creates an identity and enrolls signature specimens, verifies a
// cropped signature and two signed letters, lists identities page by page, shows how to read the
// google.rpc error details of a failed call, and finally deletes what it created. It exits with
// status 1 when something does not turn out as expected. See README.md for the options.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const googleProtoFiles = require('google-proto-files');
const grpcHealthCheck = require('grpc-health-check');

const USAGE = `usage: node example.js [--server HOST:PORT] [--token TOKEN] [--samples DIR] [--protos DIR]
                       [--prefix ID_PREFIX] [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--json]`;
let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      server: { type: 'string', default: process.env.STAMPAUTH_SERVER || 'localhost:50051' },
      token: { type: 'string', default: process.env.STAMPAUTH_TOKEN || '' }, // prefer the env variable
      samples: { type: 'string', default: path.join(__dirname, '..', 'samples') },
      protos: { type: 'string', default: path.join(__dirname, '..', '..', 'protos') },
      prefix: { type: 'string', default: `node-example-${Date.now().toString(36)}` },
      tls: { type: 'boolean', default: false }, // TLS with the system's root certificates
      'tls-ca': { type: 'string' }, // TLS trusting this PEM CA bundle instead
      'tls-cert': { type: 'string' }, // client certificate (PEM) for mutual TLS
      'tls-key': { type: 'string' }, // its private key (PEM)
      json: { type: 'boolean', default: false }, // end with a line "RESULT {...json...}"
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

// --- Loading the API -------------------------------------------------------------------------
// stampauth.proto comes from this repository's protos/ folder, google/rpc/*.proto from the
// google-proto-files package, grpc/health/v1/health.proto from grpc-health-check; proto-loader
// brings google/protobuf/*.proto (Timestamp, Any, Duration) itself.
const packageDefinition = protoLoader.loadSync(
  ['stampauth/v1/stampauth.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto',
    grpcHealthCheck.protoPath],
  {
    includeDirs: [opts.protos, path.dirname(googleProtoFiles.getProtoPath())],
    keepCase: true, // field names as written in the .proto: identity_id, not identityId
    enums: String, // enum values as their names: 'VERDICT_GENUINE'
    longs: Number, // 64-bit integers as numbers (only sizes and timestamps here)
    defaults: true, // unset fields come back with their default values
    oneofs: true,
  },
);
const api = grpc.loadPackageDefinition(packageDefinition);
const Status = packageDefinition['google.rpc.Status'];
const BadRequest = packageDefinition['google.rpc.BadRequest'];

// --- Connecting --------------------------------------------------------------------------------
function channelCredentials() {
  if (!opts.tls && !opts['tls-ca'] && !opts['tls-cert']) {
    return grpc.credentials.createInsecure(); // plaintext: only for a server on localhost
  }
  const read = (file) => (file ? fs.readFileSync(file) : null);
  // rootCerts (null: the system's roots), then the client's private key and certificate chain (mTLS).
  return grpc.credentials.createSsl(read(opts['tls-ca']), read(opts['tls-key']), read(opts['tls-cert']));
}
const credentials = channelCredentials();
const stampauth = new api.stampauth.v1.StampAuthService(opts.server, credentials);
const health = new api.grpc.health.v1.Health(opts.server, credentials);

// Every call carries the bearer token as metadata (when there is one), and a deadline.
function call(client, method, request, timeoutSeconds = 60) {
  const metadata = new grpc.Metadata();
  if (opts.token) metadata.set('authorization', `Bearer ${opts.token}`);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + timeoutSeconds * 1000 },
      (error, response) => (error ? reject(error) : resolve(response)));
  });
}

// A failed call's status code and message, and the request fields at fault: the server sends a
// google.rpc.Status in the 'grpc-status-details-bin' trailer, whose details (google.protobuf.Any)
// include a google.rpc.BadRequest with field violations when a request field is at fault.
const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));
function describeError(error) {
  const described = {
    code: CODE_NAMES[error.code] ?? String(error.code), message: error.details, field_violations: [],
  };
  const [statusBytes] = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
  if (statusBytes) {
    for (const detail of Status.deserialize(statusBytes).details) {
      if (detail.type_url === 'type.googleapis.com/google.rpc.BadRequest') {
        for (const { field, description } of BadRequest.deserialize(detail.value).field_violations) {
          described.field_violations.push({ field, description });
        }
      }
    }
  }
  return described;
}

// --- Helpers for the walkthrough ----------------------------------------------------------------
const failures = [];
function expect(condition, what) {
  if (!condition) {
    failures.push(what);
    console.log(`  UNEXPECTED: ${what}`);
  }
}
const fmt = (x) => x.toFixed(3);
const boxText = (b) => `(${b.x_min},${b.y_min})-(${b.x_max},${b.y_max})`;
const decisionText = (d) => `${d.verdict}: ${d.score_kind} ${fmt(d.score)} vs threshold ${fmt(d.threshold)} `
  + `(review band +/-${fmt(d.review_band)}, ${d.references_used} references, model ${d.model_version})`;
const signature = (name) => ({
  kind: 'MARK_KIND_SIGNATURE',
  image: { content: fs.readFileSync(path.join(opts.samples, 'specimens', name)), filename: name },
  note: `sample ${name}`,
});

async function walkthrough(result, created) {
  // 1. Health: the overall status, and the service's (NOT_SERVING while the models load).
  console.log(`1. Health of ${opts.server}`);
  const { status } = await call(health, 'Check', { service: 'stampauth.v1.StampAuthService' }, 10);
  result.health = status;
  console.log(`  stampauth.v1.StampAuthService: ${status}`);
  expect(status === 'SERVING', `health is ${status}, not SERVING`);

  // 2. An identity (ids: 1-128 letters, digits and "._:@-") with two enrolled signature specimens.
  const identityId = `${opts.prefix}-jansen`;
  console.log(`2. Identity ${identityId}`);
  await call(stampauth, 'CreateIdentity', {
    identity: { identity_id: identityId, display_name: 'J. Jansen', metadata: { source: 'node example' } },
  });
  created.push(identityId);
  const enrolled = await call(stampauth, 'EnrollSpecimens', {
    identity_id: identityId,
    specimens: [signature('jansen-signature-1.png'), signature('jansen-signature-2.png')],
  });
  for (const s of enrolled.specimens) console.log(`  enrolled ${s.specimen_id}: ${s.kind} ${s.width}x${s.height}`);
  console.log(`  ${enrolled.identity.signature_specimen_count} signature specimen(s)`);
  result.identity = {
    identity_id: identityId,
    signature_specimen_count: enrolled.identity.signature_specimen_count,
    specimen_ids: enrolled.specimens.map((s) => s.specimen_id),
  };

  // 3. Verify a cropped signature that was not enrolled (the third specimen) against the identity.
  console.log('3. VerifyImage jansen-signature-3.png');
  const image = signature('jansen-signature-3.png').image;
  const { decision } = await call(stampauth, 'VerifyImage',
    { identity_id: identityId, kind: 'MARK_KIND_SIGNATURE', image });
  console.log(`  ${decisionText(decision)}`);
  result.verify_image = { image: image.filename, ...decision };
  expect(decision.verdict === 'VERDICT_GENUINE', `VerifyImage verdict ${decision.verdict}, expected GENUINE`);

  // 4. Verify whole letters: the server finds the marks and checks the claim "signed by identityId".
  result.documents = [];
  for (const [file, expected] of [['letter-signed.jpg', 'CLAIM_OUTCOME_SATISFIED'],
    ['letter-other-signer.jpg', 'CLAIM_OUTCOME_FORGED']]) {
    console.log(`4. VerifyDocument ${file}, claim: signature of ${identityId}`);
    const response = await call(stampauth, 'VerifyDocument', {
      document: { content: fs.readFileSync(path.join(opts.samples, file)), filename: file },
      claims: [{ identity_id: identityId, kind: 'MARK_KIND_SIGNATURE' }],
    });
    const [claim] = response.claim_results;
    console.log(`  claim: ${claim.outcome} (${claim.verdict}) ${claim.explanation}`);
    for (const v of response.verifications) {
      const m = v.mark;
      console.log(`  mark ${m.mark_index} page ${m.page_number} ${m.kind} at ${boxText(m.box)} `
        + `(detection ${fmt(m.detection_score)}): ${decisionText(v.decision)}`);
    }
    result.documents.push({
      document: file,
      outcome: claim.outcome,
      verdict: claim.verdict,
      mark_index: claim.mark_index ?? null, // optional field: absent when no mark was found
      explanation: claim.explanation,
      all_claims_satisfied: response.all_claims_satisfied,
      detector_version: response.detector_version,
      pages: response.pages,
      verifications: response.verifications.map((v) => ({
        mark_index: v.mark.mark_index, page_number: v.mark.page_number, kind: v.mark.kind, box: v.mark.box,
        verdict: v.decision.verdict, score: v.decision.score, threshold: v.decision.threshold,
        model_version: v.decision.model_version,
      })),
    });
    expect(claim.outcome === expected, `${file}: claim outcome ${claim.outcome}, expected ${expected}`);
  }

  // 5. List identities, two per page, following next_page_token until it is empty.
  console.log('5. ListIdentities, page_size 2');
  for (const n of [1, 2, 3]) {
    const id = `${opts.prefix}-extra-${n}`;
    await call(stampauth, 'CreateIdentity', { identity: { identity_id: id, display_name: `Extra ${n}` } });
    created.push(id);
  }
  const pages = [];
  let pageToken = '';
  do {
    const page = await call(stampauth, 'ListIdentities', { page_size: 2, page_token: pageToken });
    pages.push(page.identities.map((i) => i.identity_id));
    console.log(`  page ${pages.length}: ${pages.at(-1).join(', ') || '(empty)'}`);
    pageToken = page.next_page_token;
  } while (pageToken);
  const listed = pages.flat();
  result.list = { page_size: 2, pages, created: [...created] };
  for (const id of created) {
    const times = listed.filter((x) => x === id).length;
    expect(times === 1, `${id} listed ${times} times, expected once`);
  }

  // 6. A call that fails: an identity id with spaces is INVALID_ARGUMENT, naming the field at fault.
  console.log('6. CreateIdentity with an invalid identity_id');
  try {
    await call(stampauth, 'CreateIdentity', { identity: { identity_id: 'not a valid id!' } });
    created.push('not a valid id!');
    expect(false, 'CreateIdentity accepted an invalid identity_id');
  } catch (error) {
    const described = describeError(error);
    result.error = described;
    console.log(`  ${described.code}: ${described.message}`);
    for (const v of described.field_violations) console.log(`  field violation: ${v.field}`);
    expect(described.code === 'INVALID_ARGUMENT', `error code ${described.code}, expected INVALID_ARGUMENT`);
    expect(described.field_violations.length > 0, 'no google.rpc.BadRequest field violation in the error');
  }
}

async function main() {
  const result = { server: opts.server, prefix: opts.prefix };
  const created = []; // identities to delete at the end
  try {
    await walkthrough(result, created);
  } catch (error) {
    const described = describeError(error);
    result.unexpected_error = described;
    failures.push(`call failed: ${described.code}: ${described.message}`);
    console.log(`  FAILED: ${described.code}: ${described.message}`);
  } finally {
    console.log('Cleaning up');
    result.cleanup = [];
    for (const id of created) {
      try {
        const { deleted_specimen_count: count } = await call(stampauth, 'DeleteIdentity', { identity_id: id });
        console.log(`  deleted ${id} with ${count} specimen(s)`);
        result.cleanup.push({ identity_id: id, deleted_specimen_count: count });
      } catch (error) {
        const { code, message } = describeError(error);
        failures.push(`deleting ${id}: ${code}: ${message}`);
        console.log(`  could not delete ${id}: ${code}: ${message}`);
      }
    }
    stampauth.close();
    health.close();
  }
  result.ok = failures.length === 0;
  result.failures = failures;
  console.log(result.ok ? 'OK' : `${failures.length} unexpected result(s)`);
  if (opts.json) console.log(`RESULT ${JSON.stringify(result)}`);
  process.exitCode = result.ok ? 0 : 1;
}

main();
