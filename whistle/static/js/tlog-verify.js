// tlog-verify.js: the browser's checks of the public log (docs/transparency-log.md), the
// twin of crypto/tlog.py (verification half) and crypto/note.py (parsing and verifying).
//
// A browser never builds the tree: it checks what the server hands out — inclusion and
// consistency proofs against roots in checkpoints, and the checkpoints' signatures and
// cosignatures against keys it was given. SHA-256 and Ed25519 come from libsodium (loaded
// once by whistle-crypto.js). The vectors in crypto/vectors/tlog/ are the contract:
// tests/browser/test_tlog_vectors.py runs every one of them through this module.
//
// Usage: `await ready()` once; every other function is synchronous. Sizes, indices and
// timestamps are JavaScript numbers, so values above 2^53 - 1 are refused here (a log
// that size, or a timestamp 285 million years away, is not a case the browser meets).
import { CryptoError, FormatError, ready as cryptoReady } from "/static/js/whistle-crypto.js";

export { FormatError };

export const HASH_BYTES = 32;
export const ED25519 = 0x01;
export const COSIGNATURE_V1 = 0x04;
export const MAX_SIGNATURES = 100;
const KEY_ID_BYTES = 4;
const SIGNATURE_BYTES = 64;
const TIMESTAMP_BYTES = 8;
const MAX_PROOF = 64;
const MAX_UINT63 = 2n ** 63n - 1n;
const DASH = "\u2014";
// Unicode spaces as Go's unicode.IsSpace sees them: the same list as crypto/note.py.
const NAME = /^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+\x00-\x1f]+$/u;
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const KEY_HASH = /^[0-9a-f]{8}$/;

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error; ignoreBOM: a leading U+FEFF stays text, as in Python.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
let sodium = null;

/** Raised when a proof, note or cosignature does not verify. Same message for every cause. */
export class VerifyError extends CryptoError {
  constructor() {
    super();
    this.name = "VerifyError";
    this.message = "verification failed";
  }
}

/** Load libsodium once (shared with whistle-crypto.js). */
export async function ready() {
  sodium = await cryptoReady();
  return sodium;
}

function lib() {
  if (!sodium) throw new Error("tlog-verify: await ready() first");
  return sodium;
}

function sha256(...parts) {
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return lib().crypto_hash_sha256(data);
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Lowercase hex of bytes. */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Standard base64 with padding (the C2SP formats' encoding). */
export function b64(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

/** Strict standard base64: FormatError unless `text` is exactly the encoding of its bytes. */
export function unb64(text) {
  let raw;
  try {
    raw = atob(text);
  } catch {
    throw new FormatError("invalid base64");
  }
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  // atob forgives missing padding and white space; the round trip does not.
  if (typeof text !== "string" || b64(bytes) !== text) throw new FormatError("invalid base64");
  return bytes;
}

// --- the tree (RFC 6962 hashes, RFC 9162 verification) -----------------------------------

/** SHA-256(0x00 || entry). */
export function leafHash(entry) {
  return sha256(Uint8Array.of(0), entry);
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left, right) {
  return sha256(Uint8Array.of(1), left, right);
}

/** The root of the empty tree, SHA-256(""). */
export function emptyRoot() {
  return sha256();
}

function checkHash(digest) {
  if (!(digest instanceof Uint8Array) || digest.length !== HASH_BYTES) {
    throw new FormatError("a hash is 32 bytes");
  }
}

function checkProof(proof) {
  if (!Array.isArray(proof) || proof.length > MAX_PROOF) throw new FormatError("proof too long");
  proof.forEach(checkHash);
}

function checkSize(size) {
  if (!Number.isSafeInteger(size) || size < 0) throw new FormatError("invalid tree size");
}

// Halving with arithmetic, not >>: bit operators would cut sizes to 32 bits.
const half = (n) => Math.floor(n / 2);

/** The root `proof` gives for leaf hash `digest` at `index` in a tree of `size` (RFC 9162 §2.1.3.2). */
export function rootFromInclusionProof(digest, index, size, proof) {
  checkHash(digest);
  checkProof(proof);
  checkSize(size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new VerifyError();
  let fn = index;
  let sn = size - 1;
  let r = digest;
  for (const p of proof) {
    if (sn === 0) throw new VerifyError();
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new VerifyError();
  return r;
}

/** VerifyError unless `proof` shows leaf hash `digest` at `index` under `root`. */
export function verifyInclusion(digest, index, size, proof, root) {
  checkHash(root);
  if (!equal(rootFromInclusionProof(digest, index, size, proof), root)) throw new VerifyError();
}

/** VerifyError unless the tree `secondRoot` of `second` leaves extends `firstRoot` (RFC 9162 §2.1.4.2). */
export function verifyConsistency(first, second, proof, firstRoot, secondRoot) {
  checkHash(firstRoot);
  checkHash(secondRoot);
  checkProof(proof);
  checkSize(second);
  if (!Number.isSafeInteger(first) || first < 0 || first > second) throw new VerifyError();
  if (first === second) {
    if (proof.length || !equal(firstRoot, secondRoot)) throw new VerifyError();
    return;
  }
  if (first === 0) {
    if (proof.length || !equal(firstRoot, emptyRoot())) throw new VerifyError();
    return;
  }
  if (!proof.length) throw new VerifyError();
  // A power-of-two old tree is itself a node of the new one: the proof leaves it out.
  const path = Number.isInteger(Math.log2(first)) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) throw new VerifyError();
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0 || !equal(fr, firstRoot) || !equal(sr, secondRoot)) throw new VerifyError();
}

// --- keys and signed notes (C2SP signed-note, tlog-cosignature) -------------------------

function checkName(name) {
  if (typeof name !== "string" || !NAME.test(name)) throw new FormatError("invalid key name");
  return name;
}

/** SHA-256(name || 0x0A || type || public key)[:4]. */
export function keyId(name, keyType, publicKey) {
  return sha256(encoder.encode(checkName(name)), Uint8Array.of(0x0a, keyType), publicKey)
    .slice(0, KEY_ID_BYTES);
}

/**
 * A trusted key from its vkey text `<name>+<hex key ID>+<base64(type || key)>`.
 * @returns {{name: string, keyType: number, publicKey: Uint8Array, keyId: Uint8Array}}
 */
export function parseVkey(text) {
  if (typeof text !== "string") throw new FormatError("invalid verifier key");
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new FormatError("invalid verifier key");
  const [name, hash, material] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!KEY_HASH.test(hash)) throw new FormatError("invalid verifier key");
  const raw = unb64(material);
  if (raw.length !== 33 || (raw[0] !== ED25519 && raw[0] !== COSIGNATURE_V1)) {
    throw new FormatError("invalid verifier key");
  }
  const verifier = { name: checkName(name), keyType: raw[0], publicKey: raw.slice(1) };
  verifier.keyId = keyId(verifier.name, verifier.keyType, verifier.publicKey);
  if (toHex(verifier.keyId) !== hash) throw new FormatError("verifier key ID does not match its key");
  return verifier;
}

/** The vkey text of a verifier (for display and comparison). */
export function vkey(verifier) {
  const material = new Uint8Array(33);
  material[0] = verifier.keyType;
  material.set(verifier.publicKey, 1);
  return `${verifier.name}+${toHex(verifier.keyId)}+${b64(material)}`;
}

function checkText(text) {
  if (typeof text !== "string" || !text.endsWith("\n") || CONTROL.test(text)) {
    throw new FormatError("malformed note");
  }
}

/**
 * Split a signed note into text and signature lines; FormatError unless well formed.
 * @param {string|Uint8Array} data
 * @returns {{text: string, signatures: {name: string, keyId: Uint8Array, signature: Uint8Array}[]}}
 */
export function parseNote(data) {
  if (data instanceof Uint8Array) {
    try {
      data = decoder.decode(data);
    } catch {
      throw new FormatError("malformed note");
    }
  }
  checkText(data);
  const split = data.lastIndexOf("\n\n");
  if (split < 0) throw new FormatError("malformed note");
  const text = data.slice(0, split + 1);
  const lines = data.slice(split + 2, -1).split("\n");
  if (lines.length < 1 || lines.length > MAX_SIGNATURES) throw new FormatError("malformed note");
  const seen = new Set();
  const signatures = lines.map((line) => {
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[0] !== DASH) throw new FormatError("malformed note");
    const name = checkName(parts[1]);
    const raw = unb64(parts[2]);
    const id = raw.slice(0, KEY_ID_BYTES);
    const key = `${name} ${toHex(id)}`;
    if (raw.length <= KEY_ID_BYTES || seen.has(key)) throw new FormatError("malformed note");
    seen.add(key);
    return { name, keyId: id, signature: raw.slice(KEY_ID_BYTES) };
  });
  return { text, signatures };
}

/** What a cosignature/v1 signs: header line, time line, then the checkpoint body. */
export function cosignedMessage(text, timestamp) {
  return encoder.encode(`cosignature/v1\ntime ${timestamp}\n${text}`);
}

/** Check one signature line against its key; the timestamp for a cosignature, else null. */
export function verifySignature(verifier, text, signature) {
  if (signature.name !== verifier.name || !equal(signature.keyId, verifier.keyId)) {
    throw new VerifyError();
  }
  let raw = signature.signature;
  let message = encoder.encode(text);
  let timestamp = null;
  if (verifier.keyType === COSIGNATURE_V1) {
    if (raw.length !== TIMESTAMP_BYTES + SIGNATURE_BYTES) throw new VerifyError();
    const big = new DataView(raw.buffer, raw.byteOffset, TIMESTAMP_BYTES).getBigUint64(0);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new VerifyError();
    timestamp = Number(big);
    message = cosignedMessage(text, timestamp);
    raw = raw.slice(TIMESTAMP_BYTES);
  }
  if (raw.length !== SIGNATURE_BYTES) throw new VerifyError();
  let ok = false;
  try {
    ok = lib().crypto_sign_verify_detached(raw, message, verifier.publicKey);
  } catch {
    ok = false;
  }
  if (!ok) throw new VerifyError();
  return timestamp;
}

/**
 * Parse a note and verify it against trusted keys: unknown keys' lines are ignored, a
 * known key's line that fails rejects the note, and so does a note no known key signed.
 */
export function openNote(data, verifiers) {
  const note = parseNote(data);
  const verified = [];
  for (const signature of note.signatures) {
    const verifier = verifiers.find((v) => v.name === signature.name && equal(v.keyId, signature.keyId));
    if (verifier) {
      verified.push({ verifier, signature, timestamp: verifySignature(verifier, note.text, signature) });
    }
  }
  if (!verified.length) throw new VerifyError();
  return { text: note.text, signatures: note.signatures, verified };
}

// --- checkpoints (C2SP tlog-checkpoint) --------------------------------------------------

/** The note text of a checkpoint. */
export function checkpointBody({ origin, size, root, extensions = [] }) {
  return [origin, String(size), b64(root), ...extensions].map((line) => line + "\n").join("");
}

/**
 * A checkpoint from its note text; FormatError unless exactly the format.
 * @returns {{origin: string, size: number, root: Uint8Array, extensions: string[]}}
 */
export function parseCheckpoint(text) {
  checkText(text);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3 || !lines[0] || !DECIMAL.test(lines[1]) || lines[1].length > 19) {
    throw new FormatError("malformed checkpoint");
  }
  const big = BigInt(lines[1]);
  if (big > MAX_UINT63 || big > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError("malformed checkpoint");
  const root = unb64(lines[2]);
  const extensions = lines.slice(3);
  if (root.length !== HASH_BYTES || extensions.some((line) => !line)) {
    throw new FormatError("malformed checkpoint");
  }
  const checkpoint = { origin: lines[0], size: Number(big), root, extensions };
  if (checkpointBody(checkpoint) !== text) throw new FormatError("malformed checkpoint");
  return checkpoint;
}

/**
 * Verify a signed checkpoint: signed by `log` (a type 0x01 key named as the origin), every
 * line of a known cosigner verifies, and at least `quorum` distinct cosigners cosigned it.
 * @returns {{checkpoint: object, cosignatures: Object<string, number>}}
 */
export function openCheckpoint(data, log, cosigners = [], quorum = 0) {
  if (log.keyType !== ED25519 || cosigners.some((c) => c.keyType !== COSIGNATURE_V1)) {
    throw new FormatError("log keys are type 0x01, cosigner keys type 0x04");
  }
  const opened = openNote(data, [log, ...cosigners]);
  const checkpoint = parseCheckpoint(opened.text);
  if (checkpoint.origin !== log.name || !opened.verified.some((v) => v.verifier === log)) {
    throw new VerifyError();
  }
  const cosignatures = {};
  for (const v of opened.verified) {
    if (v.verifier !== log && v.timestamp !== null) cosignatures[v.verifier.name] = v.timestamp;
  }
  if (Object.keys(cosignatures).length < quorum) throw new VerifyError();
  return { checkpoint, cosignatures, signatures: opened.signatures };
}
