#!/bin/sh
# Installs what `make bench` needs beyond scripts/deps.sh: wrk (the load
# generator) and nginx-light (the static-file reference), skipping those
# already installed.  Needs root (or sudo) only when something is missing.
# nginx is only run by bench/run.py as a child process with its own config;
# the Debian service is neither enabled nor started here.
set -eu
PKGS="wrk nginx-light"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the package from starting the system nginx on port 80
# (only when we may write it and none exists)
PRC=/usr/sbin/policy-rc.d
made_prc=0
if [ ! -e "$PRC" ] && [ "$(id -u)" -eq 0 ]; then
	printf '#!/bin/sh\nexit 101\n' > "$PRC" && chmod 755 "$PRC" && made_prc=1
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing || { [ $made_prc -eq 1 ] && rm -f "$PRC"; exit 1; }
[ $made_prc -eq 1 ] && rm -f "$PRC"
exit 0
