"""Hydra's own errors as one line: what `python -m probing.run` checks before Hydra starts.

Hydra reports a typo'd key (`probe.kss=1`), an unknown group member (`model=nope`) or a run
directory it cannot create in several lines and exit 1, or as a traceback. Composing the same
overrides here first turns each into `error: ...` and exit 2, like every other user error.
Sweeps (`a,b`) are left to the multirun's own check (probing.multirun), which composes each job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"


def hydra_error_line(err: BaseException) -> str:
    """The first paragraph of a Hydra error on one line, plus the options it lists, if any."""
    text = str(err).strip()
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    head = " ".join(line.strip() for line in (paragraphs[0] if paragraphs else "").splitlines())
    head = head or type(err).__name__
    for p in paragraphs[1:]:
        lines = [line.strip() for line in p.splitlines() if line.strip()]
        if lines and lines[0].startswith("Available options"):
            options = []
            for line in lines[1:]:
                if line.endswith(":"):  # the next section (Config search path:)
                    break
                options.append(line)
            return f"{head} (available: {', '.join(options)})"
    return head


def _misplaced(argv: list[str], unknown: list[str]) -> str:
    """Why argparse could not place `unknown`: an override after an option such as -m (the
    overrides are one positional run: options go before all of them), or an unknown option."""
    flags = [a for a in unknown if a.startswith("-")]
    if flags:
        return f"unknown option {flags[0]} (python -m probing.run --help lists them)"
    options = [a for a in argv[: argv.index(unknown[0])] if a.startswith("-")]
    split_by = options[-1] if options else "an option"
    return (
        f"{split_by} comes between overrides ({unknown[0]} is after it): write the options "
        "before every override, e.g. python -m probing.run -m model=... feature=..."
    )


def precheck(argv: list[str]) -> str | None:
    """The one-line problem with the command line `argv`, or None (also when it is not ours to
    judge: --help, --cfg, another config directory)."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args, unknown = get_args_parser().parse_known_args(argv)
    if unknown:  # else argparse's usage block, a dozen lines, ending in "unrecognized arguments"
        return _misplaced(argv, unknown)
    if any([args.help, args.hydra_help, args.cfg, args.info, args.shell_completion]) or any(
        [args.config_path, args.config_name, args.config_dir, args.experimental_rerun]
    ):
        return None
    try:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except Exception as err:
        return hydra_error_line(err)
    sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
    if sweeps and not args.multirun:
        return f"{sweeps[0]} lists several values: add -m to run one job per value"
    # Hydra types Override.input_line Optional; parse_overrides sets it on every override
    fixed = cast(list[str], [o.input_line for o in parsed if not o.is_sweep_override()])
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=fixed, return_hydra_config=True)
    except Exception as err:
        return hydra_error_line(err)
    finally:
        GlobalHydra.instance().clear()
    swept = OmegaConf.select(cfg, "hydra.sweeper.params")
    if swept and not args.multirun:  # else Hydra runs one job of the defaults, and exits 0
        return (
            f"the config sweeps {', '.join(map(str, swept))} (hydra.sweeper.params, as an "
            "experiment sets it): add -m to run one job per value"
        )
    key = "hydra.sweep.dir" if args.multirun else "hydra.run.dir"
    try:
        run_dir = Path(str(OmegaConf.select(cfg, key)))
    except Exception:  # resolves only inside a running job: Hydra will say
        return None
    if not args.multirun:
        problem = _another_run(run_dir, cfg)
        if problem:
            return problem
    return _unwritable(run_dir)


# Settings that do not change a job's rows (probing.experiment.run_key): a run resumed with the
# progress bar off, another logger, the cache moved, or another SLURM request is the same run.
NOT_IN_ROWS = ("progress", "logger", "paths", "model.slurm")


def _another_run(run_dir: Path, cfg) -> str | None:
    """Why `run_dir` holds another configuration's rows, or None. Hydra rewrites `.hydra/` before
    the job could refuse the directory (probing.results), leaving the rows beside a config that
    did not make them (the config ablation reads back)."""
    saved, results = run_dir / ".hydra" / "config.yaml", run_dir / "results.jsonl"
    if not saved.is_file() or not results.is_file() or not results.read_bytes().strip():
        return None
    try:
        before = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
    except Exception:  # not a config we can read: the job's own run_key check still refuses
        return None
    now = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(now, dict) and isinstance(before, dict)  # a config is a mapping
    now.pop("hydra", None)
    changed = [key for key in changed_keys(before, now) if not key.startswith(NOT_IN_ROWS)]
    if not changed:
        return None
    return (
        f"{run_dir} holds results of another configuration (changed from its "
        f".hydra/config.yaml: {', '.join(changed[:5])}): give this run its own hydra.run.dir"
    )


def changed_keys(a: object, b: object, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two plain configs."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [prefix or "the config"]
    return [
        changed
        for key in sorted({*a, *b}, key=str)
        for changed in changed_keys(a.get(key), b.get(key), f"{prefix}.{key}".lstrip("."))
    ]


def _unwritable(path: Path) -> str | None:
    """Why a directory cannot be created at `path`, or None."""
    parent = path.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create the run directory {path}: {parent} is a file (set hydra.run.dir)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return (
            f"cannot create the run directory {path}: {parent} is not writable (set hydra.run.dir)"
        )
    return None
