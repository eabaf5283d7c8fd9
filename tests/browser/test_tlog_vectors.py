"""tlog-verify.js against the public log's vectors, inside Chromium, under the app's CSP.

Every file of crypto/vectors/tlog/ is run in the page through whistle/static/js/tlog-verify.js.
The JavaScript only computes; the assertions are made here against the vector. Then a log
built by crypto/tlog.py and signed by crypto/note.py is checked by the browser.
"""

import json
import random

import nacl.signing
import pytest

from crypto import note, tlog
from crypto.vectors.generate_tlog import VECTOR_DIR, outcome

pytestmark = pytest.mark.browser

MODULE = "/static/js/tlog-verify.js"
FILES = sorted(VECTOR_DIR.glob("*.json"))

# Runs one vector; `roots` is the tlog_roots vector (the generated proofs verify against it).
RUN_VECTOR = """
async ([text, rootsText]) => {
  const t = await import("%(module)s");
  await t.ready();
  const v = JSON.parse(text);
  const roots = JSON.parse(rootsText).roots;
  const unhex = (h) => new Uint8Array((h.match(/../g) || []).map((x) => parseInt(x, 16)));
  const hexes = (list) => list.map(unhex);
  const outcome = (fn) => {
    try { fn(); return "ok"; } catch (e) {
      return { VerifyError: "verify_failed", FormatError: "format_error" }[e.name] || e.name + ": " + e.message;
    }
  };
  const inclusion = (c, root) => outcome(() => t.verifyInclusion(
    unhex(c.leaf_hash), c.index, c.size, hexes(c.proof), unhex(root)));
  const consistency = (c, from, to) => outcome(() => t.verifyConsistency(
    c.from, c.to, hexes(c.proof), unhex(from), unhex(to)));
  const described = (opened) => ({
    origin: opened.checkpoint.origin, size: opened.checkpoint.size,
    root: t.toHex(opened.checkpoint.root), extensions: opened.checkpoint.extensions,
    body: t.checkpointBody(opened.checkpoint), cosignatures: opened.cosignatures,
    lines: opened.signatures.length,
  });

  if (v.case === "ct_reference") {
    return {
      empty: t.toHex(t.emptyRoot()),
      one: t.toHex(t.leafHash(unhex(v.leaves[0]))),
      two: t.toHex(t.nodeHash(t.leafHash(unhex(v.leaves[0])), t.leafHash(unhex(v.leaves[1])))),
      inclusion: v.inclusion.map((c) => inclusion(c, v.roots[c.size])),
      consistency: v.consistency.map((c) => consistency(c, v.roots[c.from], v.roots[c.to])),
    };
  }
  if (v.case === "roots") return { leaf_hashes: v.entries.map((e) => t.toHex(t.leafHash(unhex(e)))) };
  if (v.case === "inclusion") {
    const leaves = JSON.parse(rootsText).leaf_hashes;
    return { outcomes: v.cases.map((c) => inclusion({ ...c, leaf_hash: leaves[c.index] }, roots[c.size])) };
  }
  if (v.case === "consistency") {
    return { outcomes: v.cases.map((c) => consistency(c, roots[c.from], roots[c.to])) };
  }
  if (v.case === "inclusion_invalid") return { outcomes: v.cases.map((c) => inclusion(c, c.root)) };
  if (v.case === "consistency_invalid") {
    return { outcomes: v.cases.map((c) => consistency(c, c.from_root, c.to_root)) };
  }
  if (v.case === "go_reference") {
    const key = t.parseVkey(v.vkey);
    return { text: t.openNote(v.note, [key]).text, vkey: t.vkey(key),
             tampered: outcome(() => t.openNote(v.note.replace("cryptography", "cryptographY"), [key])) };
  }
  if (v.case === "vkeys") {
    return {
      parsed: v.cases.map((c) => {
        const k = t.parseVkey(c.vkey);
        return { vkey: t.vkey(k), name: k.name, type: k.keyType, key_id: t.toHex(k.keyId),
                 public_key: t.toHex(k.publicKey) };
      }),
      rejected: v.reject.map((text) => outcome(() => t.parseVkey(text))),
    };
  }
  if (v.case === "checkpoint" || v.case === "checkpoint_empty_tree") {
    return described(t.openCheckpoint(v.note, t.parseVkey(v.log_vkey)));
  }
  if (v.case === "cosignature") {
    const cosigners = v.cosigner_vkeys.map(t.parseVkey);
    const log = t.parseVkey(v.log_vkey);
    return Object.assign(described(t.openCheckpoint(v.note, log, cosigners, v.quorum)), {
      message: new TextDecoder().decode(t.cosignedMessage(v.body, v.timestamps[0])),
      above_quorum: outcome(() => t.openCheckpoint(v.note, log, cosigners, v.quorum + 1)),
    });
  }
  if (v.case === "checkpoint_malformed") {
    return { outcomes: v.cases.map((c) => outcome(() => t.parseCheckpoint(c.body))) };
  }
  if (v.case === "rejected") {
    const log = t.parseVkey(v.log_vkey);
    const cosigners = v.cosigner_vkeys.map(t.parseVkey);
    return { outcomes: v.cases.map((c) => outcome(() => t.openCheckpoint(
      c.note_base64 ? t.unb64(c.note_base64) : c.note, log, cosigners, v.quorum))) };
  }
  return { unknown: v.area + "_" + v.case };
}
""" % {"module": MODULE}


@pytest.fixture(scope="module")
def tlog_page(module_page, live_server):
    """The app's front page, where tlog-verify.js is imported under the real CSP."""
    assert module_page.goto(live_server + "/").ok
    return module_page


def load(path):
    text = path.read_text(encoding="ascii")
    return text, json.loads(text)


def test_every_area_is_here():
    assert {p.stem.split("_", 1)[0] for p in FILES} == {"tlog", "note"}
    assert len(FILES) == 13


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector(tlog_page, path):
    text, v = load(path)
    roots_text, _ = load(VECTOR_DIR / "tlog_roots.json")
    got = tlog_page.evaluate(RUN_VECTOR, [text, roots_text])
    assert "unknown" not in got
    CHECKS[v["case"]](v, got)


def check_ct_reference(v, got):
    assert got["empty"] == v["roots"][0] and got["one"] == v["roots"][1] and got["two"] == v["roots"][2]
    assert got["inclusion"] == ["ok"] * len(v["inclusion"])
    assert got["consistency"] == ["ok"] * len(v["consistency"])


def check_all_ok(v, got):
    assert got["outcomes"] == ["ok"] * len(v["cases"])


def check_expected(v, got):
    assert got["outcomes"] == [c["expect"] for c in v["cases"]]


def check_checkpoint(v, got):
    assert (got["origin"], got["size"], got["root"]) == (v["origin"], v["size"], v["root"])
    assert got["body"] == v["body"] and got["extensions"] == v.get("extensions", [])
    assert got["cosignatures"] == {} and got["lines"] == 1


def check_cosignature(v, got):
    names = [note.parse_vkey(k).name for k in v["cosigner_vkeys"]]
    assert got["cosignatures"] == dict(zip(names, v["timestamps"]))
    assert got["body"] == v["body"] and got["lines"] == 4
    assert got["message"] == v["message"]
    assert got["above_quorum"] == "verify_failed"


def check_go(v, got):
    assert got == {"text": v["text"], "vkey": v["vkey"], "tampered": "verify_failed"}


def check_vkeys(v, got):
    assert got["parsed"] == [{k: c[k] for k in ("vkey", "name", "type", "key_id", "public_key")} for c in v["cases"]]
    assert got["rejected"] == ["format_error"] * len(v["reject"])


def check_roots(v, got):
    assert got == {"leaf_hashes": v["leaf_hashes"]}


def check_malformed(v, got):
    assert got["outcomes"] == ["format_error"] * len(v["cases"])


CHECKS = {
    "ct_reference": check_ct_reference,
    "roots": check_roots,
    "inclusion": check_all_ok,
    "consistency": check_all_ok,
    "inclusion_invalid": check_expected,
    "consistency_invalid": check_expected,
    "go_reference": check_go,
    "vkeys": check_vkeys,
    "checkpoint": check_checkpoint,
    "checkpoint_empty_tree": check_checkpoint,
    "cosignature": check_cosignature,
    "checkpoint_malformed": check_malformed,
    "rejected": check_expected,
}


# --- a log built in Python, checked in the browser -----------------------------------------------

CHECK_LOG = """
async ({ checkpoint, vkey, oldCheckpoint, consistency, leaf, index, inclusion }) => {
  const t = await import("%(module)s");
  await t.ready();
  const unb = (list) => list.map(t.unb64);
  const log = t.parseVkey(vkey);
  const now = t.openCheckpoint(checkpoint, log).checkpoint;
  const before = t.openCheckpoint(oldCheckpoint, log).checkpoint;
  t.verifyConsistency(before.size, now.size, unb(consistency), before.root, now.root);
  t.verifyInclusion(t.leafHash(new TextEncoder().encode(leaf)), index, now.size, unb(inclusion), now.root);
  let forked;
  try {
    t.verifyInclusion(t.leafHash(new TextEncoder().encode(leaf + " ")), index, now.size, unb(inclusion), now.root);
    forked = "accepted";
  } catch (e) { forked = e.name; }
  return { size: now.size, before: before.size, forked };
}
""" % {"module": MODULE}


def test_python_log_checked_by_the_browser(tlog_page):
    key = nacl.signing.SigningKey.generate()
    origin = "whistle.example/log"
    store = tlog.MemoryStore()
    entries = [json.dumps({"seq": i + 1, "action": "例子"}, sort_keys=True, separators=(",", ":")) for i in range(1234)]
    for size, text in enumerate(entries):
        tlog.append_leaf(store, size, tlog.leaf_hash(text.encode()))

    def signed(size):
        return note.sign_checkpoint(note.Checkpoint(origin, size, tlog.root_hash(store, size)), key)

    got = tlog_page.evaluate(
        CHECK_LOG,
        {
            "checkpoint": signed(1234),
            "vkey": note.verifier_of(origin, key).vkey(),
            "oldCheckpoint": signed(1000),
            "consistency": [note.b64(p) for p in tlog.consistency_proof(store, 1000, 1234)],
            "leaf": entries[777],
            "index": 777,
            "inclusion": [note.b64(p) for p in tlog.inclusion_proof(store, 777, 1234)],
        },
    )
    assert got == {"size": 1234, "before": 1000, "forked": "VerifyError"}


# --- the two parsers agree on inputs nobody wrote by hand ----------------------------------------

OUTCOMES = """
async ({ notes, vkeys, logVkey, cosignerVkeys }) => {
  const t = await import("%(module)s");
  await t.ready();
  const outcome = (fn) => {
    try { fn(); return "ok"; } catch (e) {
      return { VerifyError: "verify_failed", FormatError: "format_error" }[e.name] || e.name + ": " + e.message;
    }
  };
  const log = t.parseVkey(logVkey);
  const cosigners = cosignerVkeys.map(t.parseVkey);
  return {
    notes: notes.map((n) => outcome(() => t.openCheckpoint(n, log, cosigners, 1))),
    vkeys: vkeys.map((k) => outcome(() => t.parseVkey(k))),
  };
}
""" % {"module": MODULE}

ODD = [
    " ",
    "\u00a0",
    "\u3000",
    "\u2014",
    "+",
    "=",
    "/",
    "\n",
    "\t",
    "\r",
    "A",
    "0",
    "-",
    "_",
    "\ufeff",
    "\u0085",
    "\x7f",
    "\u2028",
    "é",
]


def _mutations(text, rng, count):
    """Deterministic single-character edits of ``text``: replace, insert or delete."""
    out = []
    for _ in range(count):
        i = rng.randrange(len(text))
        kind = rng.randrange(3)
        if kind == 0:
            out.append(text[:i] + rng.choice(ODD) + text[i + 1 :])
        elif kind == 1:
            out.append(text[:i] + rng.choice(ODD) + text[i:])
        else:
            out.append(text[:i] + text[i + 1 :])
    return out


def test_python_and_browser_agree_on_mutated_notes_and_vkeys(tlog_page):
    rng = random.Random(20)
    log_key = nacl.signing.SigningKey(bytes(range(32)))
    witness_key = nacl.signing.SigningKey(bytes(range(1, 33)))
    origin, witness = "log.example/x", "w.example/1"
    body = note.Checkpoint(origin, 5, tlog.EMPTY_ROOT, ("ext",)).body()
    signed = note.format_note(
        body, [note.sign(body, origin, log_key), note.cosign(body, witness, witness_key, 1700000000)]
    )
    log = note.verifier_of(origin, log_key)
    cosigner = note.verifier_of(witness, witness_key, note.COSIGNATURE_V1)
    notes = [signed] + _mutations(signed, rng, 400)
    vkeys = [log.vkey(), cosigner.vkey()] + _mutations(log.vkey(), rng, 150) + _mutations(cosigner.vkey(), rng, 150)
    got = tlog_page.evaluate(
        OUTCOMES, {"notes": notes, "vkeys": vkeys, "logVkey": log.vkey(), "cosignerVkeys": [cosigner.vkey()]}
    )
    expected_notes = [outcome(lambda n=n: note.open_checkpoint(n, log, [cosigner], quorum=1)) for n in notes]
    expected_vkeys = [outcome(lambda k=k: note.parse_vkey(k)) for k in vkeys]
    assert expected_notes[0] == "ok" and expected_vkeys[:2] == ["ok", "ok"]
    # Enough of each class that agreement means something.
    assert {"ok", "format_error", "verify_failed"} <= set(expected_notes)
    mismatches = [(repr(n), e, g) for n, e, g in zip(notes, expected_notes, got["notes"]) if e != g]
    assert not mismatches, mismatches[:5]
    mismatches = [(repr(k), e, g) for k, e, g in zip(vkeys, expected_vkeys, got["vkeys"]) if e != g]
    assert not mismatches, mismatches[:5]
