#!/usr/bin/env bash
# Packaging check: build the sdist and the wheel (the wheel from the sdist, as `python -m build`
# does), install the wheel with the lab and studio extras into a fresh virtual environment
# outside the checkout, as a user would, and run .ci/smoke_installed.py there from another folder.
# Usage: .ci/smoke_wheel.sh [PYTHON]   (PYTHON has the `build` module; default .venv/bin/python)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$repo/.venv/bin/python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/faltung-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH

# build from a copy of the files git knows (tracked, or new and not ignored), so that nothing
# in the checkout (egg-info, build/) is written or read
mkdir "$work/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$work/src"
"$python" -m build -q --outdir "$work/dist" "$work/src"
wheel=("$work"/dist/faltung-*.whl)
sdist=("$work"/dist/faltung-*.tar.gz)
echo "smoke: built $(basename "${sdist[0]}") and $(basename "${wheel[0]}")"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "${wheel[0]}[lab,studio]"
mkdir "$work/run"
cd "$work/run"
"$work/venv/bin/python" "$repo/.ci/smoke_installed.py"
