"""The committee's rules file (TOML): loaded and validated once, at start-up."""
import tomllib
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("zh_Hans", "zh_Hant", "en")


class RulesError(Exception):
    """Raised when the rules file is unreadable or invalid; the message says where."""


@dataclass(frozen=True)
class Department:
    """A department that can be named as the accused's unit."""

    code: str
    names: dict

    def name(self, language: str) -> str:
        """The department's name in ``language`` (falls back to Simplified Chinese)."""
        return self.names.get(language) or self.names["zh_Hans"]


@dataclass(frozen=True)
class Rules:
    """The parsed rules."""

    committee_names: dict
    departments: tuple

    @property
    def department_codes(self) -> dict:
        """code -> Department, in file order."""
        return {d.code: d for d in self.departments}


def _names(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise RulesError(f"{where}: 'name' must be a table of languages, e.g. name = {{ zh_Hans = \"…\" }}")
    missing = [lang for lang in LANGUAGES if not isinstance(value.get(lang), str) or not value[lang].strip()]
    if missing:
        raise RulesError(f"{where}: name is missing for {', '.join(missing)}")
    return dict(value)


def parse(text: str, source: str = "rules") -> Rules:
    """Parse and validate rules text; RulesError names the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML: {exc}") from exc
    committee = data.get("committee")
    if not isinstance(committee, dict):
        raise RulesError(f"{source}: a [committee] table with a name is required")
    departments = []
    seen = set()
    for i, entry in enumerate(data.get("departments") or [], start=1):
        where = f"{source}: departments #{i}"
        code = entry.get("code") if isinstance(entry, dict) else None
        if not isinstance(code, str) or not code.isascii() or not code.replace("_", "").isalnum():
            raise RulesError(f"{where}: 'code' must be letters, digits and underscores")
        if code in seen:
            raise RulesError(f"{where}: code {code!r} is used twice")
        seen.add(code)
        departments.append(Department(code, _names(entry.get("name"), f"{where} ({code})")))
    if not departments:
        raise RulesError(f"{source}: at least one [[departments]] entry is required")
    return Rules(_names(committee.get("name"), f"{source}: [committee]"), tuple(departments))


def load(path: Path) -> Rules:
    """Read and validate the rules file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse(text, str(path))
