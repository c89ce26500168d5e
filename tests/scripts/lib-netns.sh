# tests/scripts/lib-netns.sh: a full mesh of network namespaces joined by veth pairs (or by a delayed
# user-space link), and the faults the partition tests put on it (nftables drops, random loss).
# shellcheck shell=bash
#
# The caller sets NETNS_PREFIX (namespaces are PREFIX<i>), NETNS_NET (the first three octets) and
# NETNS_BASE (node i is NETNS_NET.(i + NETNS_BASE) on its namespace's loopback), then calls
# netns_mesh (or netns_wan) with the node indices, and netns_delete from its exit path. Needs root,
# ip and nft (netns_mesh) or /dev/net/tun (netns_wan).

netns_addr() { echo "$NETNS_NET.$(($1 + NETNS_BASE))"; }

# netns_mesh I...: the namespaces, a veth pair per pair of nodes with a route each way, and an
# empty nftables output chain per namespace for the faults. Returns 77 when namespaces or nftables
# cannot be used here, 1 when a veth pair cannot be made.
netns_mesh() {
  local i a b ns=$NETNS_PREFIX
  NETNS_NODES="$*" # first, so that netns_delete also removes a half-made mesh
  for i in "$@"; do
    ip netns add "$ns$i" || return 77
    ip -n "$ns$i" link set lo up
    ip -n "$ns$i" addr add "$(netns_addr "$i")/32" dev lo
  done
  for a in "$@"; do for b in "$@"; do
    [ "$a" -lt "$b" ] || continue
    ip link add "v$ns$a$b" type veth peer name "v$ns$b$a" || return 1
    ip link set "v$ns$a$b" netns "$ns$a"; ip link set "v$ns$b$a" netns "$ns$b"
    ip -n "$ns$a" link set "v$ns$a$b" up; ip -n "$ns$b" link set "v$ns$b$a" up
    ip -n "$ns$a" route add "$(netns_addr "$b")/32" dev "v$ns$a$b" src "$(netns_addr "$a")"
    ip -n "$ns$b" route add "$(netns_addr "$a")/32" dev "v$ns$b$a" src "$(netns_addr "$b")"
  done; done
  for i in "$@"; do
    ip netns exec "$ns$i" nft add table inet trireme || return 77
    ip netns exec "$ns$i" nft add chain inet trireme out '{ type filter hook output priority 0; policy accept; }'
  done
}

# netns_wan I...: the namespaces of netns_mesh, joined instead through tests/bench/wan_link, a
# user-space forwarder that holds each packet for NETNS_WAN_DELAY_MS one way (the kernel may lack
# sch_netem): a TUN device wan0 per namespace, the other nodes routed through it. The caller sets
# NETNS_WAN_BIN (the built wan_link) and NETNS_WAN_LOG (its output: "ready", and its counters
# once it is stopped). Sets NETNS_WAN_PID. Returns 77 when namespaces cannot be used, 1 when
# wan_link does not come up.
netns_wan() {
  local i j ns=$NETNS_PREFIX args=()
  NETNS_NODES="" # only those this call made, so that netns_delete never takes someone else's
  for i in "$@"; do
    ip netns add "$ns$i" || return 77
    NETNS_NODES="$NETNS_NODES $i"
    ip -n "$ns$i" link set lo up
    ip -n "$ns$i" addr add "$(netns_addr "$i")/32" dev lo
    args+=("$ns$i=$(netns_addr "$i")")
  done
  "${NETNS_WAN_BIN:?}" -d "$NETNS_WAN_DELAY_MS" "${args[@]}" >"$NETNS_WAN_LOG" 2>&1 &
  NETNS_WAN_PID=$!
  for _ in $(seq 1 100); do
    grep -q '^ready$' "$NETNS_WAN_LOG" 2>/dev/null && break
    kill -0 "$NETNS_WAN_PID" 2>/dev/null || { cat "$NETNS_WAN_LOG" >&2; return 1; }
    sleep 0.1
  done
  grep -q '^ready$' "$NETNS_WAN_LOG" || return 1
  for i in "$@"; do
    ip -n "$ns$i" link set wan0 up txqueuelen 10000 || return 1
    for j in "$@"; do
      [ "$i" = "$j" ] && continue
      ip -n "$ns$i" route add "$(netns_addr "$j")/32" dev wan0 src "$(netns_addr "$i")" || return 1
    done
  done
}

# netns_mdb_create PROVIDER PORT I...: a MariaDB node nI (lib-mariadb.sh) per namespace, bound to
# the namespace's address with the same ports everywhere; the first bootstraps (gcomm://), the
# others join through all of them. Sets NETNS_GCOMM_ALL, that address of all of them.
netns_mdb_create() {
  local provider=$1 port=$2 i addr all=""
  shift 2
  for i in "$@"; do all="$all,$(netns_addr "$i"):$((port + 1))"; done
  NETNS_GCOMM_ALL="gcomm://${all#,}"
  for i in "$@"; do
    addr=$NETNS_GCOMM_ALL; [ "$i" = "$1" ] && addr=gcomm://
    MDB_NODE_HOST=$(netns_addr "$i") MDB_NODE_PREFIX="ip netns exec $NETNS_PREFIX$i" \
      mdb_node_create "n$i" "$provider" "$addr" "$port" || return 1
  done
}

# netns_delete: wan_link first (by its PID; it prints its counters), then the namespaces
netns_delete() { # deleting a namespace removes its veth ends, rules and qdiscs with it
  local i
  if [ -n "${NETNS_WAN_PID:-}" ]; then
    kill -TERM "$NETNS_WAN_PID" 2>/dev/null && wait "$NETNS_WAN_PID" 2>/dev/null
    NETNS_WAN_PID=""
  fi
  for i in ${NETNS_NODES:-}; do ip netns del "$NETNS_PREFIX$i" 2>/dev/null; done
}

netns_drop() { # A B: A's packets to B dropped
  ip netns exec "$NETNS_PREFIX$1" nft add rule inet trireme out ip daddr "$(netns_addr "$2")" counter drop
}
netns_lossy() { # I PERCENT: that share of I's packets to the other nodes dropped at random
  ip netns exec "$NETNS_PREFIX$1" nft add rule inet trireme out ip daddr "$NETNS_NET.0/24" \
    numgen random mod 100 \< "$2" counter drop
}
netns_veths() { ip -n "$NETNS_PREFIX$1" -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1; }
netns_heal() { # every rule and qdisc gone
  local i v
  for i in $NETNS_NODES; do
    ip netns exec "$NETNS_PREFIX$i" nft flush chain inet trireme out
    for v in $(netns_veths "$i"); do ip netns exec "$NETNS_PREFIX$i" tc qdisc del dev "$v" root 2>/dev/null; done
  done
}
# netns_netem ARGS...: a netem qdisc with ARGS on every veth; fails when the kernel has no sch_netem
netns_netem() {
  local i v
  for i in $NETNS_NODES; do
    for v in $(netns_veths "$i"); do
      ip netns exec "$NETNS_PREFIX$i" tc qdisc add dev "$v" root netem "$@" 2>/dev/null || return 1
    done
  done
}
