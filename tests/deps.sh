#!/bin/sh
# Install the Debian packages named as arguments that are missing.
# As root it runs apt-get; otherwise it prints the command and fails.
missing=
for p in "$@"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
cmd="apt-get update && apt-get install -y$missing"
if [ "$(id -u)" != 0 ]; then
	echo "jobwrap: missing Debian packages:$missing" >&2
	echo "jobwrap: run as root: $cmd" >&2
	exit 1
fi
echo "jobwrap: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q && apt-get install -y -q --no-install-recommends $missing
