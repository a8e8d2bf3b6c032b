// sign.mjs signs test tokens with npm jose, a JOSE implementation that
// shares no code with this project, for tests/integration/thirdparty_test.go.
//
// stdin: {"claims": [{...}, ...]}, one JWT claims set per token subject.
// stdout: one JSON object
//
//	{
//	  "jwks": {"keys": [...]},        // public JWKs with kid, alg, use "sig"
//	  "tokens": [                     // one entry per claims set, in order
//	    {"RS256": {"JWT": "...", "at+jwt": "..."}, "PS256": {...}, "ES256": {...}, "EdDSA": {...}}
//	  ]
//	}
//
// Keys are new on every run (RS256 and PS256 each an RSA 2048-bit key,
// ES256 P-256, EdDSA Ed25519); everything else is the input's.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';

const algs = [
  { alg: 'RS256', options: { modulusLength: 2048 } },
  { alg: 'PS256', options: { modulusLength: 2048 } },
  { alg: 'ES256', options: {} },
  { alg: 'EdDSA', options: { crv: 'Ed25519' } },
];
const types = ['JWT', 'at+jwt'];

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
  // jose 6 needs the global WebCrypto of Node.js 20 (Debian bookworm's
  // nodejs is 18: take trixie's, or NodeSource's).
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new Error(`Node.js 20 or later required, this is ${process.version}`);
  const input = await readStdin();
  if (!Array.isArray(input.claims) || input.claims.length === 0) {
    throw new Error('stdin: want {"claims": [claims set, ...]}');
  }
  const keys = [];
  const signers = [];
  for (const { alg, options } of algs) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
    const jwk = await exportJWK(publicKey);
    const kid = `${alg.toLowerCase()}-${await calculateJwkThumbprint(jwk)}`;
    keys.push({ ...jwk, kid, alg, use: 'sig' });
    signers.push({ alg, kid, privateKey });
  }
  const tokens = [];
  for (const claims of input.claims) {
    const byAlg = {};
    for (const { alg, kid, privateKey } of signers) {
      byAlg[alg] = {};
      for (const typ of types) {
        // The claims go in as given: iat, nbf and exp are the caller's, not
        // jose's defaults, so the test knows every value it asserts on.
        byAlg[alg][typ] = await new SignJWT(claims).setProtectedHeader({ alg, kid, typ }).sign(privateKey);
      }
    }
    tokens.push(byAlg);
  }
  process.stdout.write(JSON.stringify({ jwks: { keys }, tokens }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`sign.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
