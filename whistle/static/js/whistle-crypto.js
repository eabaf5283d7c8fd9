// whistle-crypto.js: the browser twin of the Python package `crypto/` (see crypto/FORMAT.md).
//
// Both sides must produce and accept exactly the same bytes; the JSON files in
// crypto/vectors/ are the contract and tests/browser/test_crypto_vectors.py runs all of
// them through this module. Every primitive comes from libsodium (libsodium-wrappers-sumo,
// served from /static/vendor/); nothing here is home-made cryptography. The Damm check
// digit is the only algorithm written out by hand, and it is a typo check, not crypto.
//
// Usage: `await ready()` once, then every function is synchronous except
// deriveReporterKeys and encryptFile, which return promises.
import _sodium from "/static/vendor/libsodium-wrappers.mjs";

/** Size of one attachment stream chunk's plaintext (FORMAT.md §4). */
export const CHUNK = 65536;
/** Bodies are padded to at least this many bytes (FORMAT.md §3). */
export const MIN_BUCKET = 1024;
/** Envelope format version written by seal (FORMAT.md §3). */
export const VERSION = 2;
/** Versions readers open: version 1 envelopes were stored before the reporter key was bound. */
export const VERSIONS = Object.freeze([1, 2]);
/** The header field of a version 2 report that binds the reporter's key: rk(public key). */
export const REPORTER_KEY_FIELD = "rk";
const REPORTER_KEY_LABEL = "whistle/v1/reporter-key";
/** The envelope kinds. */
export const KINDS = Object.freeze(["report", "message", "reply", "note", "identity", "survey"]);
/** At most this many recipients per envelope (same limit as crypto/envelope.py). */
export const MAX_RECIPIENTS = 64;

const LOCATOR_DIGITS = 7;
const SECRET_DIGITS = 20;
const CODE_DIGITS = LOCATOR_DIGITS + SECRET_DIGITS + 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
// A key file's cost (FORMAT.md §5): outside these bounds it is refused before stretching.
const FILE_OPSLIMIT = [1, 4];
const FILE_MEMLIMIT = [8192, 1 << 30];
// The least receipt cost a site may ask for (FORMAT.md §2): a follow-up below it is refused.
export const RECEIPT_MIN_OPSLIMIT = 1;
export const RECEIPT_MIN_MEMLIMIT = 8 * 1024 * 1024;
const NONCE_BYTES = 24;
const AEAD_ABYTES = 16;
const SEALED_KEY_BYTES = KEY_BYTES + 48; // crypto_box_SEALBYTES = 48
const STREAM_HEADER_BYTES = 24;
const STREAM_ABYTES = 17;
const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1, the canon integer range
// Files are read in slices of this many bytes: a multiple of CHUNK, large enough to keep
// the number of (slow) Blob reads low, small enough that only one slice is in memory.
const READ_SLICE = 16 * CHUNK;
// Ciphertext chunks are folded into a Blob every so often so the browser may move them
// out of the JavaScript heap (to its blob storage) while a large file is being sealed.
const FOLD_EVERY = 64;

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, as in Python's bytes.decode("utf-8").
// ignoreBOM: keep a leading U+FEFF so JSON.parse refuses it, as Python's json.loads does.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

let sodium = null;

/** Raised when anything sealed fails to open. The message never says why, on purpose. */
export class CryptoError extends Error {
  constructor() {
    super("decryption failed");
    this.name = "CryptoError";
  }
}

/** Raised for input that is not well formed (bad base64, wrong field, unknown version). */
export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "FormatError";
  }
}

/** Raised for a receipt code with the wrong length or check digit; `reason` says which. */
export class ReceiptError extends Error {
  constructor(reason) {
    super(reason);
    this.name = "ReceiptError";
    this.reason = reason; // "bad_length" or "bad_check", so a form can say which
  }
}

/**
 * Load libsodium (WebAssembly) once.
 * @returns {Promise<object>} the initialised libsodium-wrappers object
 */
export async function ready() {
  if (!sodium) {
    await _sodium.ready;
    sodium = _sodium;
  }
  return sodium;
}

/** The loaded library; a clear error instead of "undefined is not a function" if not ready. */
function lib() {
  if (!sodium) throw new Error("whistle-crypto: await ready() first");
  return sodium;
}

function requireBytes(value, length, what) {
  if (!(value instanceof Uint8Array) || (length !== undefined && value.length !== length)) {
    throw new FormatError(`${what} must be ${length === undefined ? "" : length + " "}bytes`);
  }
  return value;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// --- randomness -------------------------------------------------------------------------

/**
 * Bytes from libsodium's CSPRNG (which uses crypto.getRandomValues).
 * @param {number} size
 * @returns {Uint8Array}
 */
export function randomBytes(size) {
  return lib().randombytes_buf(size);
}

/**
 * A random identifier: 32 lowercase hex digits (attachment ids, FORMAT.md §4).
 * @returns {string}
 */
export function randomId() {
  return lib().to_hex(randomBytes(16));
}

// --- encodings (FORMAT.md, Notation) ----------------------------------------------------

/**
 * base64url without padding.
 * @param {Uint8Array} data
 * @returns {string}
 */
export function b64u(data) {
  requireBytes(data, undefined, "b64u input");
  if (data.length === 0) return "";
  return lib().to_base64(data, lib().base64_variants.URLSAFE_NO_PADDING);
}

/**
 * Decode strict base64url without padding; reject anything non-canonical (FormatError).
 * @param {string} text
 * @returns {Uint8Array}
 */
export function unb64u(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new FormatError("invalid base64url");
  }
  if (text === "") return new Uint8Array(0);
  let data;
  try {
    data = lib().from_base64(text, lib().base64_variants.URLSAFE_NO_PADDING);
  } catch (_) {
    throw new FormatError("invalid base64url");
  }
  // Re-encoding catches non-canonical trailing bits, exactly like the Python decoder.
  if (b64u(data) !== text) throw new FormatError("invalid base64url");
  return data;
}

function isPrintableAscii(text) {
  return /^[\x20-\x7e]*$/.test(text);
}

function checkCanonValue(value) {
  if (value === null || typeof value === "boolean") return;
  if (typeof value === "number") {
    // JSON cannot tell 1 from 1.0 here; Python refuses floats, we refuse non-integers.
    if (!Number.isSafeInteger(value)) throw new FormatError("integer out of range");
    return;
  }
  if (typeof value === "string") {
    if (!isPrintableAscii(value)) throw new FormatError("header strings must be printable ASCII");
    return;
  }
  throw new FormatError("header values must be strings, integers, booleans or null");
}

/**
 * Canonical JSON of a flat header object: keys sorted by code point, no white space,
 * ASCII only (FORMAT.md, Notation). Throws FormatError for anything else.
 * @param {object} obj
 * @returns {string}
 */
export function canon(obj) {
  if (!isPlainObject(obj)) throw new FormatError("header must be an object");
  const keys = Object.keys(obj);
  for (const key of keys) {
    if (!isPrintableAscii(key)) throw new FormatError("header strings must be printable ASCII");
    checkCanonValue(obj[key]);
  }
  // Keys are printable ASCII, so UTF-16 order (the default sort) is code point order.
  keys.sort();
  // JSON.stringify escapes exactly '"' and '\' in printable ASCII, like Python's json.
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + JSON.stringify(obj[k])).join(",") + "}";
}

// --- keys (FORMAT.md, Notation) -----------------------------------------------------------

/**
 * derive(key, label) = BLAKE2b(message = UTF-8(label), key = key): one label per key.
 * @param {Uint8Array} key 16 to 64 bytes
 * @param {string} label must start with "whistle/v1/"
 * @param {number} [size=32]
 * @returns {Uint8Array}
 */
export function derive(key, label, size = 32) {
  if (typeof label !== "string" || !label.startsWith("whistle/v1/")) {
    throw new FormatError("labels are namespaced under whistle/v1/");
  }
  requireBytes(key, undefined, "key");
  return lib().crypto_generichash(size, encoder.encode(label), key);
}

/**
 * Key id of an X25519 public key: b64u of a 16-byte BLAKE2b hash.
 * @param {Uint8Array} publicKey
 * @returns {string}
 */
export function kid(publicKey) {
  requireBytes(publicKey, KEY_BYTES, "public key");
  return b64u(lib().crypto_generichash(16, publicKey, null));
}

/**
 * Enrolment fingerprint of an X25519 public key (FORMAT.md Notation): what a new member
 * reads to the colleague who confirms them. 5 groups of 5 digits from
 * BLAKE2b-256(message = pk, key = "whistle/v1/enrolment-fingerprint").
 * @param {Uint8Array} publicKey
 * @returns {string} e.g. "01234 56789 01234 56789 01234"
 */
export function fingerprint(publicKey) {
  requireBytes(publicKey, KEY_BYTES, "public key");
  const digest = lib().crypto_generichash(32, publicKey, encoder.encode("whistle/v1/enrolment-fingerprint"));
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength);
  const groups = [];
  for (let i = 0; i < 5; i += 1) groups.push(String(view.getUint32(4 * i) % 100000).padStart(5, "0"));
  return groups.join(" ");
}

/**
 * The deterministic X25519 key pair of a 32-byte seed (crypto_box_seed_keypair).
 * @param {Uint8Array} seed
 * @returns {{publicKey: Uint8Array, secretKey: Uint8Array}}
 */
export function keyPairFromSeed(seed) {
  requireBytes(seed, KEY_BYTES, "seed");
  const pair = lib().crypto_box_seed_keypair(seed);
  return { publicKey: pair.publicKey, secretKey: pair.privateKey };
}

/**
 * FormatError unless a follow-up's salt and cost are what a site may ask for: 16 bytes of
 * salt, at least RECEIPT_MIN_OPSLIMIT passes over RECEIPT_MIN_MEMLIMIT bytes. A cheaper cost
 * would make the lookup token sent to the server cheap to test guesses of the code against.
 * @param {Uint8Array} salt
 * @param {number} opslimit
 * @param {number} memlimit
 */
export function checkReceiptCost(salt, opslimit, memlimit) {
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_BYTES) throw new FormatError("salt must be 16 bytes");
  if (!Number.isSafeInteger(opslimit) || opslimit < RECEIPT_MIN_OPSLIMIT
      || !Number.isSafeInteger(memlimit) || memlimit < RECEIPT_MIN_MEMLIMIT) {
    throw new FormatError("receipt cost below the floor");
  }
}

function checkFileCost(opslimit, memlimit) {
  if (!Number.isSafeInteger(opslimit) || opslimit < FILE_OPSLIMIT[0] || opslimit > FILE_OPSLIMIT[1]) {
    throw new FormatError("kdf opslimit out of range");
  }
  if (!Number.isSafeInteger(memlimit) || memlimit < FILE_MEMLIMIT[0] || memlimit > FILE_MEMLIMIT[1]) {
    throw new FormatError("kdf memlimit out of range");
  }
}

/** Argon2id13 to 32 bytes: the one memory-hard step. */
function stretch(secret, salt, opslimit, memlimit) {
  requireBytes(salt, SALT_BYTES, "salt");
  const s = lib();
  return s.crypto_pwhash(32, secret, salt, opslimit, memlimit, s.crypto_pwhash_ALG_ARGON2ID13);
}

// --- receipt codes (FORMAT.md §1) ---------------------------------------------------------

// The standard Damm operation table (a totally anti-symmetric quasigroup of order 10).
// It catches every single-digit error and every swap of two adjacent digits.
const DAMM = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
  [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
  [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
  [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/**
 * The Damm check digit of a string of ASCII digits (0 for a valid number with its digit).
 * @param {string} digits
 * @returns {string}
 */
export function dammCheckDigit(digits) {
  let interim = 0;
  for (const ch of digits) interim = DAMM[interim][ch.charCodeAt(0) - 48];
  return String(interim);
}

function randomDigits(count) {
  // randombytes_uniform draws without modulo bias.
  let out = "";
  for (let i = 0; i < count; i++) out += String(lib().randombytes_uniform(10));
  return out;
}

/** Map full-width digits to ASCII, then keep only ASCII digits (FORMAT.md §1). */
function normaliseCode(text) {
  return String(text)
    .replace(/[\uFF10-\uFF19]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) - 0xff10 + 48))
    .replace(/[^0-9]/g, "");
}

/** A validated 28-digit receipt code. */
export class ReceiptCode {
  /** @param {string} digits 28 ASCII digits, already checked (use parse or generate). */
  constructor(digits) {
    this.digits = digits;
    Object.freeze(this);
  }

  /**
   * A new code; pass a 7-digit locator to keep one, or let a random one be drawn.
   * @param {string} [locator]
   * @returns {ReceiptCode}
   */
  static generate(locator) {
    const loc = locator === undefined ? randomDigits(LOCATOR_DIGITS) : locator;
    if (!/^[0-9]{7}$/.test(loc)) throw new FormatError("a locator is 7 digits");
    const body = loc + randomDigits(SECRET_DIGITS);
    return new ReceiptCode(body + dammCheckDigit(body));
  }

  /**
   * Normalise user input (spaces, dashes, full-width digits) and check it.
   * @param {string} text
   * @returns {ReceiptCode}
   * @throws {ReceiptError} reason "bad_length" or "bad_check"
   */
  static parse(text) {
    const digits = normaliseCode(text);
    if (digits.length !== CODE_DIGITS) throw new ReceiptError("bad_length");
    if (dammCheckDigit(digits) !== "0") throw new ReceiptError("bad_check");
    return new ReceiptCode(digits);
  }

  /** The non-secret part that selects the case. */
  get locator() {
    return this.digits.slice(0, LOCATOR_DIGITS);
  }

  /** Seven groups of four digits, for reading aloud and copying. */
  grouped() {
    return this.digits.match(/.{1,4}/g).join(" ");
  }

  /** Never print the secret by accident (string interpolation, logs). */
  toString() {
    return `ReceiptCode(locator=${this.locator}, secret=<hidden>)`;
  }

  /** JSON.stringify(code) must not leak the secret either. */
  toJSON() {
    return this.toString();
  }
}

// --- reporter keys (FORMAT.md §2) ---------------------------------------------------------

/**
 * The stored verifier of a lookup token.
 * @param {Uint8Array} lookup
 * @returns {Uint8Array}
 */
export function verifierOf(lookup) {
  return derive(lookup, "whistle/v1/receipt/verifier");
}

/**
 * Stretch a receipt code under its case's salt; split into lookup token and key pair.
 * Async so the page can paint its "working" status before Argon2id blocks the thread.
 * @param {ReceiptCode|string} code a ReceiptCode or its digits (any accepted spelling)
 * @param {Uint8Array} salt 16 bytes
 * @param {number} opslimit
 * @param {number} memlimit bytes
 * @returns {Promise<{lookup: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array, verifier: Uint8Array}>}
 */
export async function deriveReporterKeys(code, salt, opslimit, memlimit) {
  await ready();
  const digits = code instanceof ReceiptCode ? code.digits : ReceiptCode.parse(code).digits;
  const master = stretch(encoder.encode(digits), salt, opslimit, memlimit);
  const lookup = derive(master, "whistle/v1/receipt/lookup");
  const pair = keyPairFromSeed(derive(master, "whistle/v1/receipt/x25519"));
  lib().memzero(master);
  return { lookup, publicKey: pair.publicKey, secretKey: pair.secretKey, verifier: verifierOf(lookup) };
}

// --- padding ------------------------------------------------------------------------------

/**
 * Padded body size: the smallest power of two >= length + 1, at least 1024 (FORMAT.md §3).
 * @param {number} length
 * @returns {number}
 */
export function bucket(length) {
  let size = MIN_BUCKET;
  while (size <= length) size *= 2; // multiplication, not <<: exact beyond 2^31
  return size;
}

/** floor(log2(n)) + 1 for a positive integer, without floating-point log. */
function bitLength(n) {
  let bits = 0;
  for (let power = 1; power <= n; power *= 2) bits++;
  return bits;
}

/**
 * Padmé padded length (FORMAT.md §4): at most 12 % overhead, leaks O(log log L) bits.
 * Written with division instead of bit masks, which JavaScript limits to 32 bits.
 * @param {number} length a safe integer
 * @returns {number}
 */
export function padme(length) {
  if (length < 2) return length;
  const e = bitLength(length) - 1;
  const s = bitLength(e);
  const step = 2 ** (e - s);
  return Math.ceil(length / step) * step;
}

/**
 * Exact stored size of the stream for a file of `size` bytes.
 * @param {number} size
 * @returns {number}
 */
export function ciphertextSize(size) {
  const padded = padme(size);
  const chunks = Math.max(1, Math.ceil(padded / CHUNK));
  return STREAM_HEADER_BYTES + padded + chunks * STREAM_ABYTES;
}

// --- envelope (FORMAT.md §3) --------------------------------------------------------------

/**
 * What the AEAD authenticates besides the body: the version, the kind and the clear header
 * (version 1 wrote "whistle/v1/", so its envelopes still open).
 * @param {string} kind
 * @param {object} header
 * @param {number} [version=VERSION]
 * @returns {Uint8Array}
 */
export function associatedData(kind, header, version = VERSION) {
  return encoder.encode(`whistle/v${version}/${kind}\n${canon(header)}`);
}

/**
 * rk(pk): the reporter key id a version 2 report binds (keyed BLAKE2b under its own label).
 * @param {Uint8Array} publicKey the reporter's X25519 public key
 * @returns {string}
 */
export function reporterKeyId(publicKey) {
  requireBytes(publicKey, KEY_BYTES, "public key");
  return b64u(derive(publicKey, REPORTER_KEY_LABEL, 16));
}

/**
 * A report's routing header with the reporter's key id added.
 * @param {object} header
 * @param {Uint8Array} publicKey
 * @returns {object}
 */
export function bindReporterKey(header, publicKey) {
  return { ...header, [REPORTER_KEY_FIELD]: reporterKeyId(publicKey) };
}

/** A version 2 report must carry rk, a b64u string of 16 bytes. */
function checkReporterKeyField(version, kind, header) {
  if (version !== 2 || kind !== "report") return;
  const value = header[REPORTER_KEY_FIELD];
  let ok = false;
  try {
    ok = typeof value === "string" && unb64u(value).length === 16;
  } catch (_) {
    ok = false;
  }
  if (!ok) throw new FormatError("bad_reporter_key");
}

/**
 * Compare the reporter key bound in a report with `publicKey`: "bound" (the same),
 * "mismatch" (another key) or "unbound" (a version 1 report binds none). It reads the clear
 * header, so it means something only once the report has opened (the header is
 * authenticated with the body).
 * @param {object} report a report envelope
 * @param {Uint8Array} publicKey
 * @returns {"bound"|"unbound"|"mismatch"}
 */
export function reporterKeyBinding(report, publicKey) {
  validate(report);
  if (report.kind !== "report") throw new FormatError("only a report binds a reporter key");
  if (report.v === 1) return "unbound";
  return report.header[REPORTER_KEY_FIELD] === reporterKeyId(publicKey) ? "bound" : "mismatch";
}

/** The AEAD key of the body. */
export function bodyKey(contentKey) {
  return derive(contentKey, "whistle/v1/body");
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Drop repeated public keys, keep the first occurrence's order (like Python's dict). */
function uniqueKeys(keys) {
  const out = [];
  for (const key of keys) {
    requireBytes(key, KEY_BYTES, "recipient public key");
    if (!out.some((k) => sameBytes(k, key))) out.push(key);
  }
  return out;
}

/**
 * Serialise a body exactly like Python's json.dumps(body, ensure_ascii=False,
 * separators=(",", ":")): keys in insertion order, non-ASCII kept as UTF-8.
 * Caveats that keep both sides identical: use only strings, safe integers, booleans,
 * null, arrays and objects, and no integer-like object keys ("10"), which JavaScript
 * would move to the front.
 */
function serialiseBody(body) {
  if (!isPlainObject(body)) throw new FormatError("body must be an object");
  return encoder.encode(JSON.stringify(body));
}

/**
 * Seal `body` for every recipient public key.
 * `contentKey` and `nonce` are random unless given (attachments already encrypted under
 * a content key; deterministic test vectors).
 * @param {string} kind one of KINDS: "report", "message", "reply", "note", "identity"
 * @param {object} header flat, canon-encodable clear header
 * @param {object} body
 * @param {Uint8Array[]} recipientPublicKeys 1 to 64 X25519 public keys
 * A report's header must bind the reporter's key (bindReporterKey); `version` 1 is for
 * the test vectors only.
 * @param {{contentKey?: Uint8Array, nonce?: Uint8Array, version?: number}} [options]
 * @returns {{envelope: object, contentKey: Uint8Array}}
 */
export function seal(kind, header, body, recipientPublicKeys, { contentKey, nonce, version = VERSION } = {}) {
  const s = lib();
  if (!KINDS.includes(kind)) throw new FormatError("unknown kind");
  if (!VERSIONS.includes(version)) throw new FormatError("bad_version");
  if (isPlainObject(header)) checkReporterKeyField(version, kind, header);
  const keys = uniqueKeys(recipientPublicKeys || []);
  if (keys.length < 1 || keys.length > MAX_RECIPIENTS) {
    throw new FormatError("an envelope needs 1 to 64 recipients");
  }
  const key = contentKey === undefined ? randomBytes(KEY_BYTES) : requireBytes(contentKey, KEY_BYTES, "content key");
  const iv = nonce === undefined ? randomBytes(NONCE_BYTES) : requireBytes(nonce, NONCE_BYTES, "nonce");
  const ad = associatedData(kind, header, version); // validates the header before any work
  const plain = serialiseBody(body);
  const padded = s.pad(plain, bucket(plain.length));
  const ciphertext = s.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, null, iv, bodyKey(key));
  const envelope = {
    v: version,
    kind,
    header: { ...header },
    recipients: keys.map((pk) => ({ kid: kid(pk), key: b64u(s.crypto_box_seal(key, pk)) })),
    nonce: b64u(iv),
    body: b64u(ciphertext),
  };
  return { envelope, contentKey: key };
}

function sameKeySet(obj, names) {
  const keys = Object.keys(obj);
  return keys.length === names.length && names.every((n) => Object.prototype.hasOwnProperty.call(obj, n));
}

/**
 * Check an envelope's shape without opening it (the same checks, in the same order, as
 * crypto/envelope.py validate). Throws FormatError; returns the envelope.
 * @param {object} envelope
 * @returns {object}
 */
export function validate(envelope) {
  if (!isPlainObject(envelope)) throw new FormatError("envelope must be an object");
  if (!VERSIONS.includes(envelope.v)) throw new FormatError("bad_version");
  if (!sameKeySet(envelope, ["v", "kind", "header", "recipients", "nonce", "body"])) {
    throw new FormatError("unexpected or missing envelope fields");
  }
  if (!KINDS.includes(envelope.kind)) throw new FormatError("unknown kind");
  canon(envelope.header);
  checkReporterKeyField(envelope.v, envelope.kind, envelope.header);
  const recipients = envelope.recipients;
  if (!Array.isArray(recipients) || recipients.length < 1 || recipients.length > MAX_RECIPIENTS) {
    throw new FormatError("an envelope needs 1 to 64 recipients");
  }
  const seen = new Set();
  for (const entry of recipients) {
    if (!isPlainObject(entry) || !sameKeySet(entry, ["kid", "key"])) throw new FormatError("bad recipient entry");
    if (unb64u(entry.kid).length !== 16 || seen.has(entry.kid)) throw new FormatError("bad recipient kid");
    seen.add(entry.kid);
    if (unb64u(entry.key).length !== SEALED_KEY_BYTES) throw new FormatError("bad sealed key");
  }
  if (unb64u(envelope.nonce).length !== NONCE_BYTES) throw new FormatError("bad nonce");
  if (unb64u(envelope.body).length < MIN_BUCKET + AEAD_ABYTES) throw new FormatError("body too short");
  return envelope;
}

/**
 * The key ids an envelope is sealed to.
 * @param {object} envelope
 * @returns {string[]}
 */
export function recipientKids(envelope) {
  return envelope.recipients.map((entry) => entry.kid);
}

/**
 * Recover the content key as one of the recipients; CryptoError if not one.
 * @param {object} envelope
 * @param {{publicKey: Uint8Array, secretKey: Uint8Array}} keyPair
 * @returns {Uint8Array}
 */
export function openContentKey(envelope, { publicKey, secretKey }) {
  validate(envelope);
  const mine = kid(publicKey);
  const entry = envelope.recipients.find((e) => e.kid === mine);
  if (!entry) throw new CryptoError();
  let key;
  try {
    key = lib().crypto_box_seal_open(unb64u(entry.key), publicKey, secretKey);
  } catch (_) {
    throw new CryptoError(); // one opaque error for every cause
  }
  if (key.length !== KEY_BYTES) throw new CryptoError();
  return key;
}

/**
 * Decrypt and parse the body with a known content key; CryptoError for any failure
 * (MAC, padding, UTF-8, JSON, not an object).
 * @param {object} envelope
 * @param {Uint8Array} contentKey
 * @returns {object}
 */
export function openBody(envelope, contentKey) {
  const s = lib();
  let body;
  try {
    const padded = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null, unb64u(envelope.body), associatedData(envelope.kind, envelope.header, envelope.v),
      unb64u(envelope.nonce), bodyKey(contentKey));
    const plain = s.unpad(padded, bucket(padded.length - 1));
    body = JSON.parse(decoder.decode(plain));
  } catch (_) {
    throw new CryptoError();
  }
  if (!isPlainObject(body)) throw new CryptoError();
  return body;
}

/**
 * Open an envelope as one of its recipients.
 * @param {object} envelope
 * @param {{publicKey: Uint8Array, secretKey: Uint8Array}} keyPair
 * @returns {{body: object, contentKey: Uint8Array}}
 * @throws {FormatError} malformed envelope (e.g. "bad_version")
 * @throws {CryptoError} anything that fails to open
 */
export function openEnvelope(envelope, keyPair) {
  const contentKey = openContentKey(envelope, keyPair);
  return { body: openBody(envelope, contentKey), contentKey };
}

// --- attachment streams (FORMAT.md §4) ------------------------------------------------------

/**
 * The per-attachment stream key.
 * @param {Uint8Array} contentKey
 * @param {string} attachmentId 32 lowercase hex digits
 * @returns {Uint8Array}
 */
export function attachmentKey(contentKey, attachmentId) {
  return derive(contentKey, "whistle/v1/attachment/" + attachmentId);
}

/**
 * Encrypts a file incrementally; memory use is one chunk whatever the file size.
 * Feed plaintext with write(); finish() adds the Padmé zero padding and the FINAL chunk.
 * Ciphertext pieces (the header first, then one per chunk) go to `sink`, in order.
 */
export class StreamEncryptor {
  /**
   * @param {Uint8Array} key 32 bytes
   * @param {(piece: Uint8Array) => void} sink
   */
  constructor(key, sink) {
    requireBytes(key, KEY_BYTES, "stream key");
    const { state, header } = lib().crypto_secretstream_xchacha20poly1305_init_push(key);
    this._state = state;
    this._sink = sink;
    this._buffer = new Uint8Array(CHUNK); // reused: push copies it into libsodium's memory
    this._fill = 0;
    this._finished = false;
    this.size = 0;
    sink(header);
  }

  _push(data, tag) {
    this._sink(lib().crypto_secretstream_xchacha20poly1305_push(this._state, data, null, tag));
  }

  // A full buffer is pushed only once more bytes arrive, so the last chunk (FINAL) is
  // never empty unless the whole file is.
  _flushIfFull() {
    if (this._fill === CHUNK) {
      this._push(this._buffer, lib().crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
      this._fill = 0;
    }
  }

  /**
   * Add plaintext; full chunks are encrypted and emitted at once.
   * @param {Uint8Array} data
   * @returns {number} bytes accepted
   */
  write(data) {
    if (this._finished) throw new Error("stream already finished");
    requireBytes(data, undefined, "data");
    let offset = 0;
    while (offset < data.length) {
      this._flushIfFull();
      const take = Math.min(CHUNK - this._fill, data.length - offset);
      this._buffer.set(data.subarray(offset, offset + take), this._fill);
      this._fill += take;
      offset += take;
    }
    this.size += data.length;
    return data.length;
  }

  /**
   * Pad to padme(size), emit the remaining chunks and the FINAL one.
   * @returns {number} the plaintext size
   */
  finish() {
    if (this._finished) return this.size;
    let padding = padme(this.size) - this.size;
    while (padding > 0) {
      this._flushIfFull();
      const take = Math.min(CHUNK - this._fill, padding);
      this._buffer.fill(0, this._fill, this._fill + take);
      this._fill += take;
      padding -= take;
    }
    this._push(this._buffer.subarray(0, this._fill), lib().crypto_secretstream_xchacha20poly1305_TAG_FINAL);
    this._buffer.fill(0); // do not leave plaintext lying around
    this._finished = true;
    return this.size;
  }
}

/**
 * Encrypt a whole attachment held in memory (small files, tests).
 * @param {Uint8Array} key
 * @param {Uint8Array} data
 * @returns {Uint8Array}
 */
export function encryptBytes(key, data) {
  const pieces = [];
  const enc = new StreamEncryptor(key, (piece) => pieces.push(piece));
  enc.write(data);
  enc.finish();
  return concat(pieces);
}

/**
 * Encrypt a File or Blob into a Blob of ciphertext, reading it slice by slice so the
 * plaintext of a large file is never in memory at once.
 * @param {Uint8Array} key the attachment key
 * @param {Blob} file
 * @param {(done: number, total: number) => void} [onProgress]
 * @returns {Promise<Blob>}
 */
export async function encryptFile(key, file, onProgress) {
  await ready();
  const folded = [];
  let pending = [];
  const enc = new StreamEncryptor(key, (piece) => {
    pending.push(piece);
    if (pending.length >= FOLD_EVERY) {
      folded.push(new Blob(pending));
      pending = [];
    }
  });
  for (let offset = 0; offset < file.size; offset += READ_SLICE) {
    const slice = new Uint8Array(await file.slice(offset, offset + READ_SLICE).arrayBuffer());
    enc.write(slice);
    slice.fill(0);
    if (onProgress) onProgress(Math.min(offset + READ_SLICE, file.size), file.size);
  }
  enc.finish();
  if (onProgress && file.size === 0) onProgress(0, 0);
  return new Blob(folded.concat(pending), { type: "application/octet-stream" });
}

/**
 * Decrypt a whole stream; return its first `size` bytes.
 * @param {Uint8Array} key
 * @param {Uint8Array} data header || chunks
 * @param {number} size the file size from the sealed body
 * @returns {Uint8Array}
 * @throws {CryptoError} on truncation, trailing data or any chunk that fails
 */
export function decryptStream(key, data, size) {
  const s = lib();
  requireBytes(data, undefined, "stream");
  if (data.length < STREAM_HEADER_BYTES || !Number.isSafeInteger(size) || size < 0) throw new CryptoError();
  // The plaintext is never longer than the ciphertext: refuse before allocating.
  if (size > data.length) throw new CryptoError();
  let state;
  try {
    state = s.crypto_secretstream_xchacha20poly1305_init_pull(data.subarray(0, STREAM_HEADER_BYTES), key);
  } catch (_) {
    throw new CryptoError();
  }
  const out = new Uint8Array(size);
  let filled = 0;
  let final = false;
  for (let offset = STREAM_HEADER_BYTES; offset < data.length; offset += CHUNK + STREAM_ABYTES) {
    if (final) throw new CryptoError(); // bytes after the FINAL chunk
    const chunk = data.subarray(offset, offset + CHUNK + STREAM_ABYTES);
    if (chunk.length < STREAM_ABYTES) throw new CryptoError();
    let result;
    try {
      result = s.crypto_secretstream_xchacha20poly1305_pull(state, chunk, null);
    } catch (_) {
      result = false;
    }
    if (!result) throw new CryptoError();
    if (result.tag === s.crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
      final = true;
    } else if (result.tag !== s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
               || chunk.length !== CHUNK + STREAM_ABYTES) {
      throw new CryptoError();
    }
    const take = Math.min(size - filled, result.message.length);
    out.set(result.message.subarray(0, take), filled);
    filled += take;
  }
  if (!final || filled < size) throw new CryptoError(); // truncated
  return out;
}

// --- private-key files (FORMAT.md §5): a member's key, wrapped under their passphrase ------

const KEYFILE_KIND = "whistle-private-key";

/**
 * A fresh random X25519 key pair (a member's, generated at enrolment in their browser).
 * @returns {{publicKey: Uint8Array, secretKey: Uint8Array}}
 */
export function generateKeyPair() {
  const pair = lib().crypto_box_keypair();
  return { publicKey: pair.publicKey, secretKey: pair.privateKey };
}

/**
 * Wrap a key pair's secret half under a passphrase, in exactly the CLI's key-file format.
 * Async so the page can show its "working" status before Argon2id blocks the thread.
 * @param {{publicKey: Uint8Array, secretKey: Uint8Array}} keyPair
 * @param {string} passphrase
 * @param {{opslimit: number, memlimit: number}} cost
 * @returns {Promise<string>} the key-file JSON text
 */
export async function wrapPrivateKey(keyPair, passphrase, { opslimit, memlimit }) {
  const s = await ready();
  if (!passphrase) throw new FormatError("empty passphrase");
  checkFileCost(opslimit, memlimit);
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(s.crypto_secretbox_NONCEBYTES);
  const wrapping = stretch(encoder.encode(passphrase), salt, opslimit, memlimit);
  const box = s.crypto_secretbox_easy(keyPair.secretKey, nonce, wrapping);
  s.memzero(wrapping);
  return JSON.stringify({
    v: 1, kind: KEYFILE_KIND, kid: kid(keyPair.publicKey), public_key: b64u(keyPair.publicKey),
    kdf: { salt: b64u(salt), opslimit, memlimit }, nonce: b64u(nonce), box: b64u(box),
  });
}

/**
 * Open a wrapped key; CryptoError for a wrong passphrase or a tampered file.
 * @param {string} text key-file JSON
 * @param {string} passphrase
 * @returns {Promise<{publicKey: Uint8Array, secretKey: Uint8Array}>}
 */
export async function unwrapPrivateKey(text, passphrase) {
  const s = await ready();
  let data;
  try {
    data = JSON.parse(text);
  } catch (_) {
    throw new FormatError("not a key file");
  }
  if (!isPlainObject(data) || data.kind !== KEYFILE_KIND || data.v !== 1) throw new FormatError("not a key file");
  if (!isPlainObject(data.kdf) || typeof data.kdf.salt !== "string") throw new FormatError("not a key file");
  checkFileCost(data.kdf.opslimit, data.kdf.memlimit); // before any stretching
  const wrapping = stretch(encoder.encode(passphrase), unb64u(data.kdf.salt), data.kdf.opslimit, data.kdf.memlimit);
  let secretKey;
  try {
    secretKey = s.crypto_secretbox_open_easy(unb64u(data.box), unb64u(data.nonce), wrapping);
  } catch (_) {
    throw new CryptoError();
  } finally {
    s.memzero(wrapping);
  }
  const publicKey = s.crypto_scalarmult_base(secretKey);
  if (b64u(publicKey) !== data.public_key) throw new CryptoError();
  return { publicKey, secretKey };
}

/**
 * Seal a content key to one more recipient (a colleague granted the case later).
 * @param {Uint8Array} contentKey
 * @param {Uint8Array} publicKey
 * @returns {string} b64u(crypto_box_seal(contentKey, publicKey))
 */
export function sealKeyTo(contentKey, publicKey) {
  requireBytes(contentKey, KEY_BYTES, "content key");
  requireBytes(publicKey, KEY_BYTES, "public key");
  return b64u(lib().crypto_box_seal(contentKey, publicKey));
}

/**
 * Open a content key sealed to us outside the envelope (a later grant).
 * @param {string} sealed b64u sealed box
 * @param {{publicKey: Uint8Array, secretKey: Uint8Array}} keyPair
 * @returns {Uint8Array}
 */
export function openSealedKey(sealed, { publicKey, secretKey }) {
  let key;
  try {
    key = lib().crypto_box_seal_open(unb64u(sealed), publicKey, secretKey);
  } catch (_) {
    throw new CryptoError();
  }
  if (key.length !== KEY_BYTES) throw new CryptoError();
  return key;
}

/**
 * Secretbox helpers for keeping an unlocked key sealed under a session key.
 * @param {Uint8Array} message
 * @param {Uint8Array} key 32 bytes
 * @returns {string} b64u(nonce || box)
 */
export function secretSeal(message, key) {
  const s = lib();
  const nonce = randomBytes(s.crypto_secretbox_NONCEBYTES);
  return b64u(concat([nonce, s.crypto_secretbox_easy(message, nonce, key)]));
}

/**
 * Open what secretSeal made; CryptoError if it fails.
 * @param {string} text
 * @param {Uint8Array} key
 * @returns {Uint8Array}
 */
export function secretOpen(text, key) {
  const s = lib();
  const raw = unb64u(text);
  try {
    return s.crypto_secretbox_open_easy(raw.subarray(s.crypto_secretbox_NONCEBYTES),
      raw.subarray(0, s.crypto_secretbox_NONCEBYTES), key);
  } catch (_) {
    throw new CryptoError();
  }
}
