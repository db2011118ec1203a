#!/bin/sh
# Style checks that tools keep: banned functions and raw allocation outside
# common/alloc.c.  Exit non-zero on any finding.
set -u
cd "$(dirname "$0")/.." || exit 1
rc=0
files=$(git ls-files '*.c' '*.h' | grep -v '^tests/')
if grep -nE '\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)\s*\(' $files; then
	echo "check: banned function (use snprintf, strtol, buf_*)"; rc=1
fi
if grep -nE '\b(malloc|calloc|realloc|free)\s*\(' $(echo "$files" | grep -v '^common/alloc.c$') | grep -vE '(x|try_)(malloc|calloc|realloc|free)|_free\(|cJSON_free|free\(\)'; then
	echo "check: raw allocation outside common/alloc.c"; rc=1
fi
exit $rc
