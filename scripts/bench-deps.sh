#!/bin/sh
# Installs what `make bench` needs beyond scripts/deps.sh: wrk (the load
# generator) and nginx-light (the static-file reference), through deps.sh.
# nginx is only run by bench/run.py as a child process with its own config:
# policy-rc.d keeps the package from starting the system nginx on port 80
# (only when we may write it and none exists).
set -eu
PRC=/usr/sbin/policy-rc.d
made_prc=0
if ! dpkg-query -W -f='${Status}' nginx-light 2>/dev/null | grep -q "install ok installed" &&
	[ ! -e "$PRC" ] && [ "$(id -u)" -eq 0 ]; then
	printf '#!/bin/sh\nexit 101\n' > "$PRC" && chmod 755 "$PRC" && made_prc=1
fi
rc=0
"$(dirname "$0")/deps.sh" wrk nginx-light || rc=$?
[ $made_prc -eq 1 ] && rm -f "$PRC"
exit $rc
