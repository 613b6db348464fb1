"""The ``faltung`` command: ``faltung lab list`` and ``faltung lab NAME [--epochs N] [--seed S]
[--out DIR] [--limit N]`` run the course labs (:mod:`faltung.labs`); ``faltung studio [MODEL]``
starts the studio web server (:mod:`faltung.studio`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class _VersionAction(argparse.Action):
    """``--version``: prints the installed package's version (read only when asked for)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        import faltung
        print(f"faltung {faltung.__version__}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faltung", description="faltung: the course's deep-learning labs on NumPy.")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the installed version and exit")
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
    studio = commands.add_parser(
        "studio", help="look inside a network in the browser (draw, inspect, runs)",
        description="Start the studio web server on loopback: draw a digit and watch every "
                    "layer react, inspect saved models, browse the lab reports. Without MODEL "
                    "the lenet5 lab's model (REPORTS/lenet5/model.keras) is used; if there is "
                    "none a small MNIST CNN is trained first (about a minute). Needs "
                    "pip install 'faltung[studio]'.")
    studio.add_argument("model", nargs="?", default=None,
                        help="a saved model (.keras or .h5) to show first")
    studio.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    studio.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    studio.add_argument("--reports", default="lab-reports",
                        help="the lab reports folder (default ./lab-reports); its models can "
                             "be opened on the Inspect page")
    studio.add_argument("--models", action="append", default=[], metavar="DIR",
                        help="another folder whose .keras/.h5 files may be opened (repeatable)")
    return parser


def _list() -> int:
    from faltung import labs
    entries = [labs.get(name) for name in labs.names()]
    width = max(len(lab.name) for lab in entries)
    for lab in entries:
        print(f"{lab.name:<{width}}  {lab.epochs:>4} epochs  {lab.description}")
    return 0


def _studio(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        print(f"faltung studio: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    from faltung.labs._common import MissingDatasetError
    from faltung.studio.server import serve
    try:
        return serve(args.model, host=args.host, port=args.port, reports=args.reports,
                     folders=args.models)
    except ImportError as exc:
        print(f"faltung studio: {exc}", file=sys.stderr)
        return 1
    except (MissingDatasetError, OSError) as exc:
        print(f"faltung studio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``faltung`` script and of ``python -m faltung``."""
    args = _parser().parse_args(argv)
    if args.command == "studio":
        return _studio(args)
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
        distribution = sys.modules.get("faltung.distribution")
        if distribution is None or distribution.is_chief():  # mpirun: rank 0 alone prints
            print(f"\nReport: {folder / 'report.html'}")
        return 0
    return 2  # pragma: no cover (argparse requires a command)


if __name__ == "__main__":
    sys.exit(main())
