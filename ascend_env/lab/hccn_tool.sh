#!/bin/sh
# ascend-env lab: fake of /usr/local/Ascend/driver/tools/hccn_tool (NOT Huawei code).  Sources of every output line
# and what is modelled: docs/lab.md ("hccn_tool") and ascend_env/probe/hccn.py.
# The ports' live settings are the device's (the lab keeps them in lib64/driver/lab-hccn-state, beside the lab's
# npu-smi state, so a container that mounts the driver sees them too); like the real tool, every successful set
# is also written to /etc/hccn.conf (address_N, netmask_N, netdetect_N, gateway_N, send_arp_status_N), where the
# driver finds them at boot.  The carrier (link_N=DOWN for the link-down fault) is only in the lab state.
# Queries fork nothing (shell builtins only): the probe asks 5 questions of every device.
# -ping answers per the lab's link state: a reply when both ports are UP, the source has an address and some lab
# device owns the destination address (this host's live state; the other hosts' live state when run on a host, the
# lab's snapshot lab-hccn-fabric when run in a container, which cannot see the other hosts); no reply otherwise.
# Output lines: "device N PING A", "recv seq=K,time=T ms" / "recv time out seq=K", "3 packets transmitted, R received,
# L% packet loss" (hccn_tool source and captures: ascend_env/probe/hccn.py); after a lost packet the tool fails its
# run (PING_INNER_ERROR), printed as its default "Cmd execute failed!" (lab inference from its message table).
case "$0" in */*) here=${0%/*};; *) here=.;; esac
root=${here%/usr/local/Ascend/driver/tools}
[ "$root" = "$here" ] && root=""
conf="$root/etc/hccn.conf"
state="$root/usr/local/Ascend/driver/lib64/driver/lab-hccn-state"
count=0
for node in "$root"/dev/davinci[0-9]*; do [ -e "$node" ] && count=$((count + 1)); done

usage() { echo "Usage: hccn_tool -i <device_id> {-ip|-link|-net_health|-gateway|-netdetect} -g"; \
          echo "       hccn_tool -i <device_id> -ping -g address <ip> [pkt <size>]"; \
          echo "       hccn_tool -i <device_id> -ip -s address <ip> netmask <mask>"; \
          echo "       hccn_tool -i <device_id> -netdetect -s address <ip>"; \
          echo "       hccn_tool -i <device_id> -gateway -s gateway <ip>"; exit 1; }
get() {  # get KEY DEVICE: the device's live KEY_DEVICE value
  _v=""
  [ -f "$state" ] || return 0
  while IFS='=' read -r _k _val; do [ "$_k" = "$1_$2" ] && _v=$_val; done < "$state"
  echo "$_v"
}
put() {  # put KEY DEVICE VALUE: the device's live value, and hccn.conf (what the driver restores at boot)
  for _f in "$state" "$conf"; do
    mkdir -p "$(dirname "$_f")"; touch "$_f"
    grep -v "^$1_$2=" "$_f" > "$_f.tmp" || true
    echo "$1_$2=$3" >> "$_f.tmp"; mv "$_f.tmp" "$_f"
  done
}
is_ipv4() {
  echo "$1" | grep -Eq '^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$' || return 1
  for o in $(echo "$1" | tr . ' '); do [ "$o" -le 255 ] || return 1; done
}
owner_link() {  # owner_link FILE IP -> UP or DOWN when a device in FILE (key_N=value lines) has the address IP
  _dev=""; _lk=UP
  [ -f "$1" ] || return 1
  while IFS='=' read -r _k _val; do
    case "$_k" in address_*) [ "$_val" = "$2" ] && _dev=${_k#address_};; esac
  done < "$1"
  [ -n "$_dev" ] || return 1
  while IFS='=' read -r _k _val; do [ "$_k" = "link_$_dev" ] && _lk=$_val; done < "$1"
  echo "$_lk"
}
dest_link() {  # dest_link IP -> the link of the lab device that has IP; fails when none has it
  owner_link "$state" "$1" && return 0
  if [ -n "$root" ]; then
    for _f in "${root%/*/root}"/*/root/usr/local/Ascend/driver/lib64/driver/lab-hccn-state; do
      [ "$_f" = "$state" ] && continue
      owner_link "$_f" "$1" && return 0
    done
    return 1
  fi
  owner_link "${state%/*}/lab-hccn-fabric" "$1"
}
net_of() {  # net_of IP MASK -> network address
  set -- $(echo "$1" | tr . ' ') $(echo "$2" | tr . ' ')
  echo "$(($1 & $5)).$(($2 & $6)).$(($3 & $7)).$(($4 & $8))"
}

[ "$1" = "-i" ] && [ -n "$2" ] || usage
dev=$2; what=$3; op=$4
case "$dev" in *[!0-9]*|"") echo "The device is not exist!"; exit 1;; esac
[ "$dev" -lt "$count" ] || { echo "The device is not exist!"; exit 1; }
address="" netmask="" detect="" gw="" link=UP
if [ -f "$state" ]; then
  while IFS='=' read -r _k _val; do
    case "$_k" in
      "address_$dev") address=$_val;; "netmask_$dev") netmask=$_val;;
      "netdetect_$dev") detect=$_val;; "gateway_$dev") gw=$_val;; "link_$dev") link=$_val;;
    esac
  done < "$state"
fi

case "$what $op" in
  "-ip -g")
    if [ -z "$address" ]; then echo "Get ipconf failed, because no ip was preset there!"; exit 1; fi
    echo "ipaddr:$address"; echo "netmask:$netmask";;
  "-link -g")
    echo "link status: $link";;
  "-net_health -g")
    if [ -z "$address" ]; then h=Init
    elif [ "$link" != UP ]; then h=Fault
    elif [ -z "$detect" ]; then h="Detect ip set"
    else h=Success; fi
    echo "net health status: $h";;
  "-gateway -g")
    [ -n "$gw" ] || { echo "Get gateway failed, because no gateway was preset there!"; exit 1; }
    echo "default gateway:$gw, Iface:eth$dev";;
  "-netdetect -g")
    [ -n "$detect" ] || { echo "Get netdetect failed, because no netdetect was preset there!"; exit 1; }
    echo "netdetect address: $detect";;
  "-ip -s")
    [ "$5" = address ] && [ "$7" = netmask ] || usage
    [ "$(id -u)" = 0 ] || { echo "permission denied: only root user is allowed"; exit 1; }
    is_ipv4 "$6" && is_ipv4 "$8" || { echo "The ip address you configured is invalid!"; exit 1; }
    i=0
    while [ "$i" -lt "$count" ]; do
      if [ "$i" != "$dev" ] && [ "$(get address "$i")" = "$6" ]; then
        echo "The ip address configured is conflicted!"; exit 1
      fi
      i=$((i + 1))
    done
    put address "$dev" "$6"; put netmask "$dev" "$8";;
  "-ping -g")
    shift 4
    target=""
    while [ $# -gt 0 ]; do
      case "$1" in
        address) [ $# -ge 2 ] || usage; target=$2; shift 2;;
        pkt) [ $# -ge 2 ] || usage
             case "$2" in ""|*[!0-9]*) echo "PING packet size must be unsigned int"; exit 1;; esac
             [ "$2" -le 65507 ] || { echo "PING packet size can not more than 65507"; exit 1; }
             shift 2;;
        ipv6_address) echo "lab hccn_tool: -ping over IPv6 is not simulated"; exit 1;;
        *) usage;;
      esac
    done
    is_ipv4 "$target" || { echo "The IP address is invalid! addr: $target"; exit 1; }
    echo "device $dev PING $target"
    peer=$(dest_link "$target") || peer=""
    if [ -n "$address" ] && [ "$link" = UP ] && [ "$peer" = UP ]; then
      echo "recv seq=0,time=0.114000ms"; echo "recv seq=1,time=0.067000ms"; echo "recv seq=2,time=0.063000ms"
      echo "3 packets transmitted, 3 received, 0.00% packet loss"
    else
      echo "recv time out seq=0"; echo "recv time out seq=1"; echo "recv time out seq=2"
      echo "3 packets transmitted, 0 received, 100.00% packet loss"
      echo "Cmd execute failed!"; exit 1
    fi;;
  "-netdetect -s")
    [ "$5" = address ] && is_ipv4 "$6" || { echo "The IP address is invalid! addr: $6"; exit 1; }
    put netdetect "$dev" "$6";;
  "-gateway -s")
    [ "$5" = gateway ] && is_ipv4 "$6" || { echo "The IP address is invalid! addr: $6"; exit 1; }
    [ -n "$address" ] || { echo "Unable to configure gateway, because ip is not configured!"; exit 1; }
    if [ "$(net_of "$6" "$netmask")" != "$(net_of "$address" "$netmask")" ]; then
      echo "The segment of configured gateway doesn't match that of the configured ip address!"; exit 1
    fi
    put gateway "$dev" "$6";;
  *) usage;;
esac
