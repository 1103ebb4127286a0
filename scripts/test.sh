#!/usr/bin/env bash
# The whole check, as CI runs it: install (tests, typing and docs extras), lint, type-check,
# build the docs, and run the tests with warnings as errors and a branch-coverage floor.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e '.[dev]'

.venv/bin/ruff check nanogpt_images tests benchmarks examples
.venv/bin/ruff format --check nanogpt_images tests benchmarks examples
.venv/bin/mypy
if [ -f mkdocs.yml ]; then NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"; fi
# coverage starts before pytest, so modules imported by the package's own pytest plugin count too.
.venv/bin/coverage erase
.venv/bin/coverage run -m pytest -W error "$@"
.venv/bin/coverage report
