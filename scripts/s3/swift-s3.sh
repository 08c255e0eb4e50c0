#!/usr/bin/env bash
# OpenStack Swift 2.30 (Debian 12 packages) all-in-one + s3api + tempauth on 127.0.0.1.
# usage: swift-s3.sh [start|--fresh|stop]    (--fresh wipes data and rings)
# S3: http://127.0.0.1:28080  region us-east-1, path-style, key "test:tester", secret "testing"
# The project's copy of shared/tools/swift-s3.sh: the tests (test/helpers/s3.ts) start one per test file
# with a temp S3LAB and free ports (PROXY_PORT OBJ_PORT CONT_PORT ACCT_PORT MC_PORT), then `stop` it.
# Exit 3: the packages are missing and cannot be installed here (not root) — the tests skip, saying so.
set -euo pipefail
L=${S3LAB:-/tmp/swift-s3}; ETC=$L/etc; RUN=$L/run; DEV=$L/srv/node; PY=/usr/bin/python3
PP=${PROXY_PORT:-28080} OP=${OBJ_PORT:-26010} CP=${CONT_PORT:-26011} AP=${ACCT_PORT:-26012} MP=${MC_PORT:-21211}
SVCS="memcached account container object proxy"

alive() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
stop_all() {
  for s in $SVCS; do
    f=$RUN/$s.pid; [ -f "$f" ] || continue; p=$(cat "$f")
    if alive "$p"; then
      kill "$p"; for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
      if alive "$p"; then kill -9 "$p"; fi; echo "stopped $s ($p)"
    fi
    rm -f "$f"
  done
}
s3_ping() {  # SigV2-signed ListBuckets -> HTTP status (0 = no answer)
  $PY - "$PP" <<'EOF'
import sys, hmac, hashlib, base64, email.utils, urllib.request as u
d = email.utils.formatdate(usegmt=True)
sig = base64.b64encode(hmac.new(b'testing', ('GET\n\n\n%s\n/' % d).encode(), hashlib.sha1).digest()).decode()
try: print(u.urlopen(u.Request('http://127.0.0.1:%s/' % sys.argv[1], headers={
        'Date': d, 'Authorization': 'AWS test:tester:' + sig}), timeout=5).status)
except Exception as e: print(getattr(e, 'code', 0))
EOF
}
ports_up() { for p in $OP $CP $AP $MP; do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1; done; }

case "${1:-start}" in stop) stop_all; exit 0;; start|--fresh) ;; *) echo "usage: $0 [start|--fresh|stop]"; exit 2;; esac
T0=$(date +%s.%N)

# 1. packages (nothing auto-starts: no systemd, and policy-rc.d exits 101)
if ! dpkg -s swift swift-proxy swift-object swift-container swift-account python3-swift memcached eatmydata >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "swift packages missing and not root: cannot install them" >&2; exit 3; fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    swift swift-proxy swift-object swift-container swift-account python3-swift memcached eatmydata
fi
# hash prefix/suffix + storage policy 0 always come from /etc/swift/swift.conf (package default "changeme")
grep -q '^swift_hash_path_suffix' /etc/swift/swift.conf

# 2. healthy already? done. Else stop our old processes (by PID), optionally wipe.
if [ "${1:-start}" = start ]; then
  up=1; for s in $SVCS; do alive "$(cat "$RUN/$s.pid" 2>/dev/null)" || up=0; done
  if [ $up = 1 ] && ports_up && [ "$(s3_ping)" = 200 ]; then echo "already running: http://127.0.0.1:$PP"; exit 0; fi
fi
stop_all >/dev/null
if [ "${1:-start}" = --fresh ]; then rm -rf "$ETC" "$L/srv" "$RUN"; fi
mkdir -p "$ETC" "$RUN" "$DEV/d1"

# 3. object metadata lives in user xattrs: check the data dir supports them
$PY -c 'import os,sys; p=sys.argv[1]+"/.x"; open(p,"w").close(); os.setxattr(p,"user.t",b"1"); os.unlink(p)' "$DEV/d1" \
  || { echo "no user xattrs under $DEV: use a loop-mounted ext4/xfs image" >&2; exit 1; }

# 4. configs
U=$(id -un)
dflt() { printf '[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = %s\nworkers = 0\nuser = %s\nswift_dir = %s\ndevices = %s\nmount_check = false\nlog_level = %s\n\n' \
  "$1" "$U" "$ETC" "$DEV" "${SWIFT_LOG_LEVEL:-WARNING}"; }
for sp in account:$AP container:$CP object:$OP; do s=${sp%:*}
  { dflt "${sp#*:}"; printf '[pipeline:main]\npipeline = %s-server\n\n[app:%s-server]\nuse = egg:swift#%s\n' $s $s $s; } > "$ETC/$s-server.conf"
done
{ dflt "$PP"; cat <<EOF
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MP
EOF
  for f in catch_errors gatekeeper healthcheck proxy_logging listing_formats copy slo dlo; do
    printf '\n[filter:%s]\nuse = egg:swift#%s\n' "${f/proxy_logging/proxy-logging}" "$f"; done
} > "$ETC/proxy-server.conf"

# 5. rings: part power 8, 1 replica, 1 device each. Equivalent to, per ring:
#      swift-ring-builder X.builder create 8 1 1; ... add r1z1-127.0.0.1:PORT/d1 100; ... rebalance
#    but in one python process (the 9 CLI calls cost ~9 s CPU).
if ! grep -qx "$OP $CP $AP" "$ETC/ring-ports" 2>/dev/null; then
  $PY - "$ETC" $OP $CP $AP <<'EOF'
import sys
from swift.common.ring import RingBuilder
for name, port in zip(('object', 'container', 'account'), map(int, sys.argv[2:5])):
    b = RingBuilder(8, 1, 1)
    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'replication_ip': '127.0.0.1',
               'replication_port': port, 'device': 'd1', 'weight': 100, 'meta': ''})
    b.rebalance()
    b.save('%s/%s.builder' % (sys.argv[1], name))
    b.get_ring().save('%s/%s.ring.gz' % (sys.argv[1], name))
EOF
  echo "$OP $CP $AP" > "$ETC/ring-ports"
fi

# 6. start, each in its own session (Swift's SIGTERM handler does killpg(0)).
#    eatmydata turns fsync into a no-op (not crash-safe; SWIFT_FSYNC=1 to keep fsync).
NOSYNC=eatmydata; [ "${SWIFT_FSYNC:-0}" = 1 ] && NOSYNC=
setsid memcached -l 127.0.0.1 -p $MP -U 0 -m 64 -t 1 -u "$U" </dev/null >>"$RUN/memcached.log" 2>&1 &
echo $! > "$RUN/memcached.pid"
for s in account container object proxy; do
  setsid $NOSYNC /usr/bin/swift-$s-server "$ETC/$s-server.conf" -v </dev/null >>"$RUN/$s.log" 2>&1 &
  echo $! > "$RUN/$s.pid"
done

# 7. ready = all ports accept + a signed S3 request returns 200
for _ in $(seq 300); do
  if ports_up && [ "$(s3_ping)" = 200 ]; then
    echo "S3 ready at http://127.0.0.1:$PP in $(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{printf "%.1f", a-b}') s"; exit 0
  fi
  for s in $SVCS; do alive "$(cat "$RUN/$s.pid")" || { echo "$s died:" >&2; tail -20 "$RUN/$s.log" >&2; exit 1; }; done
  sleep 0.2
done
echo "S3 not ready after 60 s; see $RUN/*.log" >&2; exit 1
