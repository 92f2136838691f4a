"""Experiment definitions: ``sims/<target>.toml``, read with the standard library.

Each file is one figure or study. Its top-level keys are the full-size
configuration; an optional ``[quick]`` table overrides keys for a smoke run.
"""
from __future__ import annotations

import ast
import copy
import importlib.util
import os
import tomllib
from importlib import resources
from pathlib import Path

#: Every target, in the order the full sweep runs and reports them.
TARGETS = ("fig2a", "fig2b", "fig3", "fig4", "theorems", "ode_vs_sim", "ode_convergence", "pathkernel", "prune_at_init")


def find_sims_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The experiment definitions: the ``--sims`` directory if given, else ``./sims``, else the packaged ones.

    The TOMLs ship with the package (``tsdyn/sims``, read through
    :mod:`importlib.resources`), so an installed tsdyn runs its sweep from any
    folder; a ``sims/`` in the working directory (the repository's) overrides them.
    """
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise ValueError(f"--sims must be a directory of experiment TOMLs; {path} is not a directory")
        return path
    local = Path.cwd() / "sims"
    if local.is_dir():
        return local
    return Path(str(resources.files("tsdyn.sims")))


def describe_targets() -> list[tuple[str, str]]:
    """``(target, one-line description)`` for every target, from its module docstring (not imported)."""
    rows = []
    for name in TARGETS:
        spec = importlib.util.find_spec(f"tsdyn.targets.{name}")
        doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text())) or ""
        line = doc.splitlines()[0] if doc else ""
        rows.append((name, line.split(": ", 1)[1] if line.startswith("Sweep target") and ": " in line else line))
    return rows


def load_config(target: str, sims_dir: Path, *, quick: bool = False, seeds: list[int] | None = None) -> dict:
    """Configuration of ``target``: its TOML, the ``[quick]`` overrides if asked, and the seeds."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    path = sims_dir / f"{target}.toml"
    if not path.exists():
        raise ValueError(f"no experiment definition for target {target!r}: {path} does not exist")
    try:
        with open(path, "rb") as fh:
            cfg = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    overrides = cfg.pop("quick", {})
    cfg = merge(cfg, overrides) if quick else cfg
    if seeds is not None and "seeds" in cfg:
        cfg["seeds"] = list(seeds)
    cfg["target"] = target
    cfg["quick"] = quick
    # Recorded so that a target built on others (theorems) loads them the same way.
    cfg["sims_dir"] = str(sims_dir)
    cfg["seeds_override"] = None if seeds is None else list(seeds)
    return cfg


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge: ``override`` wins, nested tables merge."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def parse_seeds(text: str) -> list[int]:
    """``"5"`` -> seeds 0..4; ``"0,3,7"`` -> those seeds."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise ValueError(f"seeds must be a count (e.g. 5) or a comma-separated list (e.g. 0,3,7), got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must name at least one non-negative seed, got {text!r}")
    return seeds
