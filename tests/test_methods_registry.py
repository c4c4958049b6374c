"""The method registry (nam_core/methods/registry.py): the properties code asks instead of testing method names,
and a guard that no such name test comes back outside the method modules."""

from __future__ import annotations

import re
from pathlib import Path

from nam_core.methods.registry import (
    default_first,
    default_method,
    get_method,
    is_iterative,
    method_names,
    methods,
    speed_baseline,
)

ROOT = Path(__file__).resolve().parents[1]
NAMES = "|".join(re.escape(n) for n in sorted(method_names(None), key=len, reverse=True))
NAME = rf"""["']({NAMES})["']"""
# a quoted method (or generator) name shortly after == / != / " in " / if, or just before == / != / " in ": a
# comparison, a membership test either way round, a condition on a call spelling the name, or a loop over literal
# names (what ``for m in ("vae-nam", ...)`` hard-codes is a registry question: which methods, in which order)
NAME_CHECK = re.compile(rf"(==|!=| in |\bif\b).{{0,20}}{NAME}|{NAME}.{{0,6}}(==|!=| in )")
# where a method's name may be spelled in such a test: the registry and the method's own module
ALLOWED = {"nam_core/methods/registry.py", *(m.module for m in methods(None))}
SCANNED = ("nam_core", "training", "benchmarks", "app.py")


def test_speed_pair_and_encoder_kinds() -> None:
    assert speed_baseline() == "vae-nam" and sum(m.speed_baseline for m in methods(None)) == 1
    assert [m.name for m in methods(None) if m.iterative] == ["nam"] and is_iterative("nam")
    assert not is_iterative("vae-nam") and not is_iterative(None) and not is_iterative("no-such-method")
    assert [m.name for m in methods(None) if m.variational] == ["vae-nam"]


def test_the_app_default_and_generator_menu() -> None:
    from nam_core.serving.inputs import GENERATOR_CHOICES, GENERATOR_KINDS

    assert default_method() == "vae-nam" and sum(m.app_default for m in methods(None)) == 1
    assert not is_iterative(default_method())
    assert default_first(["nam", "ae-nam", "vae-nam"]) == ("vae-nam", "nam", "ae-nam")
    assert GENERATOR_CHOICES == [("GLANN", "glann"), ("DCGAN", "dcgan")] and GENERATOR_KINDS == ("glann", "dcgan")


def test_every_generator_says_what_it_is() -> None:
    gens = methods("generator")
    assert {m.name for m in gens} == {"glann", "dcgan"}
    assert all(m.summary for m in gens) and "IMLE" in get_method("glann").summary
    assert "imle_epochs" in get_method("glann").defaults and "imle_epochs" not in get_method("dcgan").defaults


def _is_name_check(line: str) -> bool:
    return bool(NAME_CHECK.search(line))


def test_the_guard_sees_a_name_check() -> None:
    assert _is_name_check('if m == "nam":') and _is_name_check('m in ("vae-nam", "ae-nam")')
    assert _is_name_check('[x for x in rows if x["method"] in {"nam", "ae-nam"}]')
    assert _is_name_check("if key == 'glann':") and _is_name_check('if "nam" in admissions:')
    assert _is_name_check('for method in ("vae-nam", "nam"):') and _is_name_check('layout == "cyclegan"')
    assert _is_name_check('if reg.status(task, "vae-nam", gen).available:')
    assert not _is_name_check('get_method("nam")') and not _is_name_check('name="nam"')
    assert not _is_name_check('for method in default_first(names):') and not _is_name_check('"nam_core" in s')


def test_no_method_name_checks_outside_the_registry() -> None:
    found = []
    for where in SCANNED:
        for path in sorted((ROOT / where).rglob("*.py")) if (ROOT / where).is_dir() else [ROOT / where]:
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _is_name_check(line):
                    found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "method-name checks (ask the registry instead):\n" + "\n".join(found)
