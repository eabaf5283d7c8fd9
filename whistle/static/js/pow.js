// Proof of work before a submission (crypto/FORMAT.md §7, whistle/security/proof_of_work.py): find a nonce N
// such that BLAKE2b-256(challenge || ":" || N) starts with `bits` zero bits. BLAKE2b is
// libsodium's crypto_generichash; nothing here is home-made cryptography. The search yields
// to the page every few thousand tries, so the page stays responsive while it runs.
import * as wc from "/static/js/whistle-crypto.js";
import { postJSON } from "/static/js/api.js";

const BATCH = 16384; // tries between two pauses that let the page breathe

/** Number of leading zero bits of a byte array. */
export function leadingZeroBits(bytes) {
  let count = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      count += 8;
      continue;
    }
    return count + Math.clz32(byte) - 24;
  }
  return count;
}

/**
 * Search a nonce for `challenge` with `bits` of work.
 * @returns {Promise<string>} the nonce, decimal digits
 */
export async function solve(challenge, bits, onProgress) {
  const sodium = await wc.ready();
  const encoder = new TextEncoder();
  const prefix = encoder.encode(`${challenge}:`);
  const input = new Uint8Array(prefix.length + 16);
  input.set(prefix);
  for (let nonce = 0; nonce < Number.MAX_SAFE_INTEGER; nonce += 1) {
    const digits = String(nonce); // ASCII digits: one byte each
    for (let i = 0; i < digits.length; i += 1) input[prefix.length + i] = digits.charCodeAt(i);
    const digest = sodium.crypto_generichash(32, input.subarray(0, prefix.length + digits.length));
    if (leadingZeroBits(digest) >= bits) return String(nonce);
    if (nonce % BATCH === BATCH - 1) {
      if (onProgress) onProgress(nonce + 1);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
  throw new Error("no nonce found");
}

/** Ask the server for a challenge and solve it: the `pow` field of a submission. */
export async function proofOfWork(onProgress) {
  const { challenge, bits } = await postJSON("/api/v1/pow", {});
  const nonce = await solve(challenge, bits, onProgress);
  return { challenge, nonce };
}
