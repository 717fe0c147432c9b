#!/usr/bin/env bash
# Fails when C sources call a function we ban (the curl way: unbounded
# copies and formats, tokenizers with hidden state, conversions that cannot
# report errors). Use snprintf, memcpy with a checked length, strtol with
# its end pointer checked, or the bounded reader (src/common/reader.h).
# Usage: scripts/banned-functions.sh [DIR...]   (default: src, what ships)
set -euo pipefail
cd "$(dirname "$0")/.."

BANNED='strcpy|strcat|strncat|sprintf|vsprintf|strtok|strtok_r|gets|atoi|atol|atoll|atof|sscanf|tmpnam|tempnam|mktemp|alloca'
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(src)

# A call is the name, not preceded by an identifier character, '.' or '>'
# (a member), followed by '('. Comment lines (' * ...', '// ...') are skipped.
hits=$(git ls-files -- "${dirs[@]}" | grep -E '\.(c|h)$' |
    xargs -r grep -nE "(^|[^A-Za-z0-9_.>])($BANNED)[[:space:]]*\(" |
    grep -vE ':[0-9]+:[[:space:]]*(\*|//|/\*)' || true)
if [ -n "$hits" ]; then
    echo "banned functions called (see scripts/banned-functions.sh):" >&2
    echo "$hits" >&2
    exit 1
fi
echo "banned-functions: none in ${dirs[*]}"
