"""The ``faltung`` command: ``faltung lab list`` and ``faltung lab NAME [--epochs N] [--seed S]
[--out DIR] [--limit N]`` run the course labs (:mod:`faltung.labs`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faltung", description="faltung: the course's deep-learning labs on NumPy.")
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser(
        "lab", help="run a course lab and write its report ('faltung lab list' lists them)",
        description="Run a course lab end to end and write its report to DIR/NAME/ "
                    "(report.html, summary.txt, history.csv, metrics.json, plots, model). "
                    "Datasets are read from the folder named by FALTUNG_DATA, else from the "
                    "cache or downloaded.")
    lab.add_argument("name", help="the lab to run, or 'list'")
    lab.add_argument("--epochs", type=int, default=None,
                     help="epochs to train (default: the lab's own, see 'faltung lab list')")
    lab.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    lab.add_argument("--out", default="lab-reports",
                     help="folder for the reports (default ./lab-reports)")
    lab.add_argument("--limit", type=int, default=None,
                     help="only the first N training (and test) samples, for a quick look")
    lab.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    return parser


def _list() -> int:
    from faltung import labs
    entries = [labs.get(name) for name in labs.names()]
    width = max(len(lab.name) for lab in entries)
    for lab in entries:
        print(f"{lab.name:<{width}}  {lab.epochs:>4} epochs  {lab.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``faltung`` script and of ``python -m faltung``."""
    args = _parser().parse_args(argv)
    if args.command == "lab":
        if args.name == "list":
            return _list()
        from faltung import labs
        from faltung.labs._common import MissingDatasetError
        if args.name not in labs.names():
            print(f"faltung lab: no lab {args.name!r}. The labs are: "
                  f"{', '.join(labs.names())}", file=sys.stderr)
            return 2
        for option in ("epochs", "limit"):
            value = getattr(args, option)
            if value is not None and value < 1:
                print(f"faltung lab: --{option} must be at least 1, got {value}",
                      file=sys.stderr)
                return 2
        try:
            folder = labs.run_lab(args.name, epochs=args.epochs, seed=args.seed, out=args.out,
                                  limit=args.limit, verbose=0 if args.quiet else 1)
        except MissingDatasetError as exc:
            print(f"faltung lab {args.name}: {exc}", file=sys.stderr)
            return 1
        print(f"\nReport: {folder / 'report.html'}")
        return 0
    return 2  # pragma: no cover (argparse requires a command)


if __name__ == "__main__":
    sys.exit(main())
