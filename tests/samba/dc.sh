#!/usr/bin/env bash
# A throwaway Samba AD domain controller for the tests (issue #14), in a network and mount
# namespace of its own so it touches nothing on the host and cannot clash with the MIT KDC tests.
#
#   dc.sh provision DIR   provision a stopped DC into DIR (users, groups, service account, keytab)
#   dc.sh start DIR       start a namespace holder and the DC inside it; prints the holder's PID
#   dc.sh stop-dc DIR     stop the DC (and its helpers) but keep the namespace
#   dc.sh start-dc DIR    start the DC again in the existing namespace
#   dc.sh stop DIR        stop everything and remove nothing (the caller removes DIR)
#
# Everything that talks to the DC (winbind, Kerberos clients, the server under test) runs with
# `nsenter -t $(cat DIR/holder.pid) -m -n`. Needs root (namespaces; winbind's privileged pipe).
# Facts and pitfalls: docs/active-directory.md.
set -euo pipefail

cmd=$1
D=$(realpath -m "$2")
conf=$D/etc/smb.conf
REALM=EPA.TEST
DOMAIN=EPA
DC_IP=127.0.0.10
PASS='Secret-Pass.1'

tool() { samba-tool "$@" -s "$conf" >/dev/null; }

provision() {
  rm -rf "$D"; mkdir -p "$D"
  samba-tool domain provision --realm=$REALM --domain=$DOMAIN --server-role=dc \
    --dns-backend=SAMBA_INTERNAL --adminpass="$PASS" --targetdir="$D" --use-rfc2307 \
    --host-name=dc1 --host-ip=$DC_IP --option="interfaces=$DC_IP" \
    --option="bind interfaces only=yes" >"$D/provision.log" 2>&1
  # Keep only what the DC needs; every path under $D (the host is never written).
  python3 - "$conf" "$D" <<'PY'
import sys, re
conf, d = sys.argv[1], sys.argv[2]
text = open(conf).read()
head, _, body = text.partition("[global]")
glob = head + "[global]" + body.split("\n[", 1)[0]
glob = "\n".join(l for l in glob.splitlines()
                 if not re.match(r"\s*(dns forwarder|log file|logging|max log size)\s*=", l))
extra = f"""
	log file = {d}/log/%m.log
	log level = 1
	pid directory = {d}/run
	ncalrpc dir = {d}/run/ncalrpc
	ntp signd socket directory = {d}/run/ntp_signd
	winbindd socket directory = {d}/run-samba/winbindd
	dns update command = /bin/true
	spn update command = /bin/true
	load printers = no
	printcap name = /dev/null
	disable spoolss = yes
	prefork children = 1
	server services = -nbt -wrepl -drepl -kcc -ntp_signd -dnsupdate -dns -s3fs
	ntlm auth = ntlmv2-only
"""
rest = f"""
[sysvol]
	path = {d}/state/sysvol
	read only = No

[netlogon]
	path = {d}/state/sysvol/epa.test/scripts
	read only = No
"""
open(conf, "w").write(glob.rstrip() + "\n" + extra + rest)
PY
  mkdir -p "$D/log" "$D/run" "$D/run-samba" "$D/varlog"
  # Users and groups (offline, on sam.ldb): alice in WebUsers; bob in Inner, Inner in WebUsers
  # (nested); carol in no group; dave disabled; svc-web the service account of HTTP/web.epa.test.
  for u in alice bob carol dave svc-web; do tool user create "$u" "$PASS"; done
  tool user disable dave
  tool group add WebUsers
  tool group add Inner
  tool group addmembers WebUsers alice
  tool group addmembers Inner bob
  tool group addmembers WebUsers Inner
  tool spn add HTTP/web.epa.test svc-web
  # AES for the service key (the default export is RC4-only; tickets and keytab then disagree).
  dn=$(ldbsearch -H "$D/private/sam.ldb" "(sAMAccountName=svc-web)" dn 2>/dev/null | sed -n 's/^dn: //p')
  printf 'dn: %s\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: 24\n' "$dn" \
    | ldbmodify -H "$D/private/sam.ldb" >/dev/null
  samba-tool domain exportkeytab "$D/http.keytab" --principal=HTTP/web.epa.test -s "$conf" >/dev/null
  # Client-side files: Kerberos configuration and a hosts file for the namespace.
  cat >"$D/krb5.conf" <<K5
[libdefaults]
  default_realm = $REALM
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
  dns_canonicalize_hostname = false
[realms]
  $REALM = {
    kdc = $DC_IP
  }
[domain_realm]
  .epa.test = $REALM
  epa.test = $REALM
K5
  printf '127.0.0.1 localhost web.epa.test relay.epa.test\n%s dc1.epa.test dc1\n' $DC_IP >"$D/hosts"
}

holder() { cat "$D/holder.pid"; }

start_dc() {
  local h; h=$(holder)
  : >"$D/log/samba.out"
  nsenter -t "$h" -m -n samba -i -s "$conf" >>"$D/log/samba.out" 2>&1 &
  echo $! >"$D/samba.pid"
  for _ in $(seq 1 300); do
    if nsenter -t "$h" -m -n wbinfo -P >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "the DC did not answer wbinfo -P within 30 s; see $D/log" >&2
  return 1
}

stop_dc() {
  [ -f "$D/samba.pid" ] && kill "$(cat "$D/samba.pid")" 2>/dev/null || true
  # samba-dcerpcd and rpcd_* are re-parented and survive the DC: stop them by their config path.
  for _ in $(seq 1 50); do
    pgrep -f -- "$conf" >/dev/null || break
    pkill -f -- "$conf" 2>/dev/null || true
    sleep 0.1
  done
  pkill -9 -f -- "$conf" 2>/dev/null || true
  rm -f "$D/samba.pid"
}

start() {
  mkdir -p /run/samba /var/log/samba "$D/run-samba" "$D/varlog"
  # The holder: a process whose only job is to keep the namespaces alive.
  unshare --mount --propagation private --net sh -c "
    mount --bind '$D/run-samba' /run/samba &&
    mount --bind '$D/varlog' /var/log/samba &&
    mount --bind '$D/hosts' /etc/hosts &&
    ip link set lo up && ip addr add $DC_IP/8 dev lo &&
    exec sleep infinity" </dev/null >"$D/log/holder.out" 2>&1 &
  echo $! >"$D/holder.pid"
  # Wait until the mounts are in place (the holder has exec'd sleep).
  for _ in $(seq 1 50); do
    if [ "$(readlink "/proc/$(holder)/exe" 2>/dev/null)" != "$(readlink -f /bin/sh)" ] \
       && nsenter -t "$(holder)" -m -n test -d /run/samba; then break; fi
    sleep 0.05
  done
  start_dc
  holder
}

stop() {
  stop_dc
  [ -f "$D/holder.pid" ] && kill "$(holder)" 2>/dev/null || true
  rm -f "$D/holder.pid"
}

case $cmd in
  provision) provision ;;
  start) start ;;
  stop) stop ;;
  stop-dc) stop_dc ;;
  start-dc) start_dc ;;
  *) echo "usage: dc.sh provision|start|stop|stop-dc|start-dc DIR" >&2; exit 2 ;;
esac
