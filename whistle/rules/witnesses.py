"""The rules file's witnesses of the public log (``[[witnesses]]``, ``[witnessing]``).

``[[witnesses]]``
    ``name`` and ``vkey``: a cosigner's verifier key (``<name>+<key id>+<base64>``, type
    cosignature/v1, as `whistle witness keygen` prints it); the name must be the vkey's own.
    Only these witnesses' cosignatures are accepted by ``POST /log/cosignature``.
``[witnessing]`` (optional)
    ``quorum``: how many witnesses must have cosigned the latest checkpoint (default: 1 when
    witnesses are listed, else 0); ``max_age_days`` (default 7): a cosignature older than this
    no longer counts. /transparency shows a checkpoint short of either as such.
"""

from dataclasses import dataclass, field

from crypto import note
from crypto.errors import FormatError


@dataclass(frozen=True)
class WitnessRules:
    """The configured witnesses (name -> note.Verifier) and what makes a checkpoint witnessed."""

    verifiers: dict = field(default_factory=dict)
    quorum: int = 0
    max_age_days: int = 7


def parse(data: dict) -> tuple[WitnessRules, list[tuple[str, str]]]:
    """The witness rules of parsed TOML ``data``, and every problem as (where, message)."""
    problems: list[tuple[str, str]] = []
    entries = data.get("witnesses", [])
    verifiers: dict = {}
    if not isinstance(entries, list):
        problems.append(("", "witnesses must be a list of [[witnesses]] tables"))
        entries = []
    for number, entry in enumerate(entries, start=1):
        where = f"witnesses #{number}"
        if not isinstance(entry, dict) or set(entry) != {"name", "vkey"}:
            problems.append((where, "a witness has exactly name and vkey"))
            continue
        try:
            verifier = note.parse_vkey(entry["vkey"])
        except FormatError as exc:
            problems.append((where, f"vkey is not a verifier key: {exc}"))
            continue
        if verifier.key_type != note.COSIGNATURE_V1 or verifier.name != entry["name"]:
            problems.append(
                (
                    where,
                    "vkey must be a cosignature/v1 key named as the witness (the one `whistle witness keygen` prints)",
                )
            )
            continue
        if verifier.name in verifiers:
            problems.append((where, f"witness {verifier.name!r} is listed twice"))
            continue
        verifiers[verifier.name] = verifier
    table = data.get("witnessing", {})
    if not isinstance(table, dict):
        problems.append(("", "witnessing must be a [witnessing] table"))
        table = {}
    unknown = set(table) - {"quorum", "max_age_days"}
    if unknown:
        problems.append(("[witnessing]", f"unknown keys {sorted(unknown)} (expected quorum, max_age_days)"))
    quorum = table.get("quorum", 1 if verifiers else 0)
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 0 <= quorum <= len(verifiers):
        problems.append(
            (
                "[witnessing]",
                f"quorum must be a whole number from 0 to the number of witnesses ({len(verifiers)}), got {quorum!r}",
            )
        )
        quorum = 0
    age = table.get("max_age_days", 7)
    if isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= 3650:
        problems.append(("[witnessing]", f"max_age_days must be a whole number from 1 to 3650, got {age!r}"))
        age = 7
    return WitnessRules(verifiers, quorum, age), problems
