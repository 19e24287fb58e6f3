#!/usr/bin/env bash
# setup-kdc.sh DIR PORT — a throwaway MIT KDC on 127.0.0.1:PORT for realm EXAMPLE.TEST, under DIR,
# touching nothing outside it. Creates: alice (password userpw), HTTP/localhost in http.keytab,
# HTTP/other.example in other.keytab (a ticket for another service), HTTP/localhost and
# host/localhost in multi.keytab, a ccache with alice's TGT,
# and DIR/env.sh with the variables clients and servers need. Stop: kill "$(cat DIR/kdc.pid)".
set -euo pipefail
D=$1; PORT=$2; REALM=EXAMPLE.TEST
mkdir -p "$D"
cat > "$D/krb5.conf" <<CONF
[libdefaults]
  default_realm = $REALM
  # Debian's MIT 1.20 issues RC4 session keys only with this (tests/kerberos.rs makes one
  # RC4-only service to test weak_enctypes); every other principal has only AES keys.
  allow_rc4 = true
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  default_ccache_name = FILE:$D/ccache
  default_keytab_name = FILE:$D/http.keytab
[realms]
  $REALM = {
    kdc = 127.0.0.1:$PORT
  }
[domain_realm]
  localhost = $REALM
  .example = $REALM
CONF
# The same, for a client that announces channel-binding support (KERB_AP_OPTIONS_CBT).
sed 's/^\[libdefaults\]$/[libdefaults]\n  client_aware_channel_bindings = true/' "$D/krb5.conf" > "$D/krb5-aware.conf"
cat > "$D/kdc.conf" <<CONF
[kdcdefaults]
  kdc_listen = 127.0.0.1:$PORT
  kdc_tcp_listen = 127.0.0.1:$PORT
[realms]
  $REALM = {
    database_name = $D/principal
    key_stash_file = $D/stash
    acl_file = $D/kadm5.acl
    max_life = 10h
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }
[logging]
  kdc = FILE:$D/kdc.log
CONF
echo "*/admin@$REALM *" > "$D/kadm5.acl"
export KRB5_CONFIG="$D/krb5.conf" KRB5_KDC_PROFILE="$D/kdc.conf"
kdb5_util create -s -r "$REALM" -P masterpw >/dev/null
kadmin.local -q "addprinc -pw userpw alice@$REALM" >/dev/null
kadmin.local -q "addprinc -randkey HTTP/localhost@$REALM" >/dev/null
kadmin.local -q "ktadd -k $D/http.keytab HTTP/localhost@$REALM" >/dev/null
kadmin.local -q "addprinc -randkey HTTP/other.example@$REALM" >/dev/null
kadmin.local -q "ktadd -k $D/other.keytab HTTP/other.example@$REALM" >/dev/null
# multi.keytab: HTTP/localhost (same key as http.keytab) and host/localhost, as a host keytab has.
kadmin.local -q "addprinc -randkey host/localhost@$REALM" >/dev/null
kadmin.local -q "ktadd -norandkey -k $D/multi.keytab HTTP/localhost@$REALM host/localhost@$REALM" >/dev/null
krb5kdc -P "$D/kdc.pid"
for _ in $(seq 50); do [ -s "$D/kdc.pid" ] && break; sleep 0.1; done
export KRB5CCNAME="FILE:$D/ccache"
echo userpw | kinit alice@$REALM >/dev/null
cat > "$D/env.sh" <<ENV
export KRB5_CONFIG=$D/krb5.conf KRB5_KDC_PROFILE=$D/kdc.conf
export KRB5CCNAME=FILE:$D/ccache KRB5_KTNAME=FILE:$D/http.keytab
export KRB5RCACHEDIR=$D
ENV
