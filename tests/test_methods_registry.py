"""The method registry (nam_core/methods/registry.py): the properties code asks instead of testing method names,
and a guard that no such name test comes back outside the method modules."""

from __future__ import annotations

import re
from pathlib import Path

from nam_core.methods.registry import get_method, is_iterative, method_names, methods, speed_baseline

ROOT = Path(__file__).resolve().parents[1]
NAMES = "|".join(re.escape(n) for n in sorted(method_names(None), key=len, reverse=True))
# a method name compared with == / != or tested for membership in a literal tuple / set / list
NAME_CHECK = re.compile(rf'''(==|!=)\s*"({NAMES})"|"({NAMES})"\s*(==|!=)|\bin\s*[(\[{{]\s*"({NAMES})"''')
# where a method's name may be spelled: its own module and the registry; app.py and the app's model registry and
# Learn tab (serving/models.py, serving/content.py) keep theirs for now; data/folder.py's "cyclegan" is a dataset
# layout, not the method
ALLOWED = {"nam_core/methods/registry.py", *(m.module for m in methods(None)), "app.py",
           "nam_core/serving/models.py", "nam_core/serving/content.py", "nam_core/data/folder.py"}


def test_speed_pair_and_encoder_kinds() -> None:
    assert speed_baseline() == "vae-nam" and sum(m.speed_baseline for m in methods(None)) == 1
    assert [m.name for m in methods(None) if m.iterative] == ["nam"] and is_iterative("nam")
    assert not is_iterative("vae-nam") and not is_iterative(None) and not is_iterative("no-such-method")
    assert [m.name for m in methods(None) if m.variational] == ["vae-nam"]


def test_every_generator_says_what_it_is() -> None:
    gens = methods("generator")
    assert {m.name for m in gens} == {"glann", "dcgan"}
    assert all(m.summary for m in gens) and "IMLE" in get_method("glann").summary
    assert "imle_epochs" in get_method("glann").defaults and "imle_epochs" not in get_method("dcgan").defaults


def _is_name_check(line: str) -> bool:
    """``for m in ("vae-nam", ...)`` enumerates models to run (a plan, not a test of a name): not counted."""
    return bool(NAME_CHECK.search(re.sub(r"\bfor\s+[\w, ]+?\s+in\b", "for ... over", line)))


def test_the_guard_sees_a_name_check() -> None:
    assert _is_name_check('if m == "nam":') and _is_name_check('m in ("vae-nam", "ae-nam")')
    assert _is_name_check('[x for x in rows if x["method"] in {"nam", "ae-nam"}]')
    assert not _is_name_check('get_method("nam")') and not _is_name_check('name="nam"')
    assert not _is_name_check('for method in ("vae-nam", "nam"):')


def test_no_method_name_checks_outside_the_registry() -> None:
    found = []
    for folder in ("nam_core", "training", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _is_name_check(line):
                    found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "method-name checks (ask the registry instead):\n" + "\n".join(found)
