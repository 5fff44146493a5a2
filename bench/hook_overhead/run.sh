#!/bin/sh
# Hook overhead figures (see run.py): sh bench/hook_overhead/run.sh [--json]
exec python3 "$(dirname "$0")/run.py" "$@"
