#!/usr/bin/env bash
# Makes a netdoctor capture (docs: ../../shared/spec/capture-format.md, the
# "Capture directory format") with standard tools only, for hosts where the
# netdoctor binary is not installed. `netdoctor eval --capture DIR` reads it.
#
#   scripts/capture.sh --out DIR                 # this host + the cluster kubectl reaches
#   scripts/capture.sh --out DIR --host-only     # on each further node; copy nodes/<name> over
#   scripts/capture.sh --out DIR --etcd-endpoints https://10.0.0.1:2379 \
#       --etcd-cafile ca.pem --etcd-certfile c.pem --etcd-keyfile k.pem   # flannel's etcd too
#   scripts/capture.sh --redact DIR              # redact an existing capture in place
#   scripts/capture.sh --out DIR --redact        # capture, then redact
#
# What is read: Nodes, Pods, Services, EndpointSlices, Deployments,
# ComponentStatuses, Calico IPPools/BlockAffinities when their CRDs exist, and
# of the ConfigMaps only kube-system coredns, kube-proxy, kubeadm-config and
# kube-flannel-cfg. Never Secrets. On the host: `ip -j -d` links, addresses,
# routes of every table, ip rules, neighbours, `bridge -j fdb`, `ipvsadm -Sn`,
# `iptables-save`, `sysctl -a`, resolv.conf, the kubelet's config and command
# line, flannel's subnet.env. A tool that is missing is skipped with a note on
# stderr (a missing file means "not collected" to netdoctor, never "empty").
#
# --redact replaces node names (folder names and every occurrence in the
# files) with node-1, node-2, ... and every public IPv4 address with one in
# 240.0.0.0/4, mapping each public /16 to its own /16 and keeping the last two
# octets, so prefixes up to /16 and every address relation the rules use stay
# intact: the redacted capture gives the same findings, with the new names.
# Private, loopback, link-local and CGNAT addresses are kept. The mapping is
# printed to DIR/../<name>.redaction.txt (keep it private) unless --no-map.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "capture.sh: $*" >&2; exit 2; }
note() { echo "capture.sh: $*" >&2; }

out="" node="" host_only=0 cluster_only=0 redact=0 redact_dir="" force=0 write_map=1
etcd_endpoints="" etcd_prefix="" etcd_cafile="" etcd_certfile="" etcd_keyfile=""
kubectl="${KUBECTL:-kubectl}" host_root="${HOST_ROOT:-/}"
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage 0 ;;
        --out) out="${2:?--out needs a directory}"; shift ;;
        --node) node="${2:?--node needs a name}"; shift ;;
        --host-only) host_only=1 ;;
        --cluster-only) cluster_only=1 ;;
        --force) force=1 ;;
        --host-root) host_root="${2:?--host-root needs a directory}"; shift ;;
        --etcd-endpoints) etcd_endpoints="${2:?}"; shift ;;
        --etcd-prefix) etcd_prefix="${2:?}"; shift ;;
        --etcd-cafile) etcd_cafile="${2:?}"; shift ;;
        --etcd-certfile) etcd_certfile="${2:?}"; shift ;;
        --etcd-keyfile) etcd_keyfile="${2:?}"; shift ;;
        --no-map) write_map=0 ;;
        --redact)
            if [ $# -gt 1 ] && [ "${2#-}" = "$2" ] && [ -z "$out" ]; then redact_dir="$2"; shift; else redact=1; fi ;;
        *) echo "capture.sh: unknown argument: $1" >&2; usage 2 ;;
    esac
    shift
done

# ---------------------------------------------------------------- redaction
redact_capture() {
    local dir="$1"
    [ -d "$dir" ] || die "--redact: $dir is not a directory"
    command -v perl >/dev/null || die "--redact needs perl"
    local map=""
    [ "$write_map" = 1 ] && map="$(dirname "$dir")/$(basename "$dir").redaction.txt"
    REDACT_MAP="$map" perl -MJSON::PP -e '
        use strict; use warnings;
        my $dir = shift;
        my @files;
        my @stack = ($dir);
        while (my $d = shift @stack) {
            opendir(my $dh, $d) or die "capture.sh: $d: $!\n";
            for my $e (sort grep { $_ ne "." && $_ ne ".." } readdir $dh) {
                my $p = "$d/$e";
                if (-l $p) { next }
                elsif (-d $p) { push @stack, $p }
                elsif (-f $p) { push @files, $p }
            }
        }
        # Node names: the node folders and the metadata.name of every Node object.
        my %names;
        if (opendir(my $nd, "$dir/nodes")) { $names{$_} = 1 for grep { !/^\./ && -d "$dir/nodes/$_" } readdir $nd }
        for my $f (grep { m{/cluster/[^/]+\.json$} } @files) {
            open(my $fh, "<", $f) or next; local $/; my $t = <$fh>;
            my $v = eval { JSON::PP->new->decode($t) } or next;
            my @items = ref $v eq "HASH" && ref $v->{items} eq "ARRAY" ? @{$v->{items}} : ($v);
            for my $o (@items) {
                next unless ref $o eq "HASH" && ($o->{kind} // "") eq "Node";
                my $n = $o->{metadata}{name}; $names{$n} = 1 if defined $n && length $n;
            }
        }
        if ($ENV{REDACT_EXTRA_NAMES}) { $names{$_} = 1 for split /,/, $ENV{REDACT_EXTRA_NAMES} }
        my $i = 0; my %node_map = map { $_ => "node-" . ++$i } sort keys %names;
        # Public IPv4: each /16 gets its own /16 in 240.0.0.0/4, in order of first appearance
        # over the sorted files, so a re-run on the same capture gives the same mapping.
        my (%net_map, $next);
        $next = 0;
        sub private_v4 { my ($a, $b) = @_;
            return $a == 10 || $a == 127 || $a == 0 || $a >= 224
                || ($a == 172 && $b >= 16 && $b <= 31) || ($a == 192 && $b == 168)
                || ($a == 169 && $b == 254) || ($a == 100 && $b >= 64 && $b <= 127); }
        sub map_ip { my ($a, $b, $c, $d) = @_;
            return "$a.$b.$c.$d" if $a > 255 || $b > 255 || $c > 255 || $d > 255 || private_v4($a, $b);
            my $k = "$a.$b";
            unless (exists $net_map{$k}) { my $n = $next++; die "capture.sh: more than 4096 public /16 networks\n" if $n >= 4096;
                $net_map{$k} = (240 + ($n >> 8)) . "." . ($n & 255) }
            return "$net_map{$k}.$c.$d"; }
        my $names_re = %node_map ? join("|", map { quotemeta } sort { length($b) <=> length($a) } keys %node_map) : undef;
        for my $f (@files) {
            next if $f =~ /\.redaction\.txt$/;
            open(my $fh, "<:raw", $f) or die "capture.sh: $f: $!\n"; local $/; my $t = <$fh>; close $fh;
            my $orig = $t;
            if (defined $names_re) { $t =~ s/(?<![A-Za-z0-9_.\/-])($names_re)(?![A-Za-z0-9_-]|\.[A-Za-z0-9])/$node_map{$1}/g }
            # etcd v3 values are base64: decode, redact, re-encode.
            if ($f =~ m{/etcd/[^/]+\.json$}) {
                require MIME::Base64;
                $t =~ s{("value"\s*:\s*")([A-Za-z0-9+/=]+)(")}{ my ($p, $b, $s) = ($1, $2, $3);
                    my $v = MIME::Base64::decode_base64($b);
                    $v =~ s/(?<![0-9.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![0-9]|\.[0-9])/map_ip($1,$2,$3,$4)/ge;
                    $p . MIME::Base64::encode_base64($v, "") . $s }ge;
            }
            $t =~ s/(?<![0-9.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![0-9]|\.[0-9])/map_ip($1,$2,$3,$4)/ge;
            if ($t ne $orig) { open(my $oh, ">:raw", $f) or die "capture.sh: $f: $!\n"; print $oh $t; close $oh }
        }
        for my $n (sort keys %node_map) {
            my $from = "$dir/nodes/$n"; my $to = "$dir/nodes/$node_map{$n}";
            if (-d $from && $from ne $to) { die "capture.sh: $to exists\n" if -e $to; rename $from, $to or die "capture.sh: $from: $!\n" }
        }
        if ($ENV{REDACT_MAP}) {
            open(my $mh, ">", $ENV{REDACT_MAP}) or die "capture.sh: $ENV{REDACT_MAP}: $!\n";
            print $mh "# netdoctor capture redaction map: keep private\n";
            print $mh "node $_ $node_map{$_}\n" for sort keys %node_map;
            print $mh "net $_.0.0/16 $net_map{$_}.0.0/16\n" for sort { $net_map{$a} cmp $net_map{$b} } keys %net_map;
            close $mh;
        }
        printf STDERR "capture.sh: redacted %d node names and %d public /16 networks in %s\n", scalar(keys %node_map), scalar(keys %net_map), $dir;
    ' "$dir"
}

if [ -n "$redact_dir" ]; then
    redact_capture "$redact_dir"
    exit 0
fi

[ -n "$out" ] || { echo "capture.sh: --out DIR is required (or --redact DIR)" >&2; usage 2; }
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ "$force" != 1 ]; then
    die "$out is not empty; use --force to write into it"
fi
mkdir -p "$out"

# ---------------------------------------------------------------- cluster
capture_cluster() {
    if ! command -v "$kubectl" >/dev/null; then note "kubectl not found: cluster objects not captured"; return; fi
    if ! "$kubectl" version --request-timeout=10s >/dev/null 2>&1; then
        note "kubectl cannot reach the API server: cluster objects not captured"; return
    fi
    mkdir -p "$out/cluster"
    local k
    for k in nodes pods services endpointslices.discovery.k8s.io deployments.apps componentstatuses; do
        local f="$out/cluster/${k%%.*}.json"
        "$kubectl" get "$k" --all-namespaces -o json >"$f.tmp" 2>"$out/cluster/.err" && mv "$f.tmp" "$f" \
            || { note "kubectl get $k failed: $(head -c 300 "$out/cluster/.err")"; rm -f "$f.tmp"; }
    done
    for k in ippools.crd.projectcalico.org blockaffinities.crd.projectcalico.org; do
        if "$kubectl" get crd "$k" >/dev/null 2>&1; then
            "$kubectl" get "$k" -o json >"$out/cluster/${k%%.*}.json" 2>"$out/cluster/.err" || note "kubectl get $k failed"
        fi
    done
    # Only the ConfigMaps the rules read; kube-flannel-cfg lives in kube-system or kube-flannel.
    local names=() cm ns
    for cm in coredns kube-proxy kubeadm-config kube-flannel-cfg; do
        "$kubectl" -n kube-system get configmap "$cm" -o name >/dev/null 2>&1 && names+=("kube-system/$cm")
    done
    "$kubectl" -n kube-flannel get configmap kube-flannel-cfg -o name >/dev/null 2>&1 && names+=("kube-flannel/kube-flannel-cfg")
    if [ ${#names[@]} -gt 0 ]; then
        printf '{"apiVersion":"v1","kind":"List","items":[' >"$out/cluster/configmaps.json"
        local first=1
        for cm in "${names[@]}"; do
            ns="${cm%%/*}"
            [ $first = 1 ] || printf ',' >>"$out/cluster/configmaps.json"
            first=0
            "$kubectl" -n "$ns" get configmap "${cm#*/}" -o json >>"$out/cluster/configmaps.json"
        done
        printf ']}\n' >>"$out/cluster/configmaps.json"
    fi
    rm -f "$out/cluster/.err"
}

capture_etcd() {
    [ -n "$etcd_endpoints" ] || return 0
    command -v etcdctl >/dev/null || { note "etcdctl not found: flannel's etcd data not captured"; return; }
    mkdir -p "$out/etcd"
    local tls=() prefix
    [ -n "$etcd_cafile" ] && tls+=(--cacert "$etcd_cafile")
    [ -n "$etcd_certfile" ] && tls+=(--cert "$etcd_certfile")
    [ -n "$etcd_keyfile" ] && tls+=(--key "$etcd_keyfile")
    for prefix in ${etcd_prefix:-/coreos.com/network /flannel/network}; do
        if ETCDCTL_API=3 etcdctl --endpoints "$etcd_endpoints" "${tls[@]}" --command-timeout=10s \
            get --prefix "$prefix" -w json >"$out/etcd/v3.json.tmp" 2>/dev/null && grep -q '"kvs"' "$out/etcd/v3.json.tmp"; then
            mv "$out/etcd/v3.json.tmp" "$out/etcd/v3.json"; return
        fi
        # etcd v2 (old flannel): the keys API over HTTP.
        if command -v curl >/dev/null; then
            local curl_tls=()
            [ -n "$etcd_cafile" ] && curl_tls+=(--cacert "$etcd_cafile")
            [ -n "$etcd_certfile" ] && curl_tls+=(--cert "$etcd_certfile")
            [ -n "$etcd_keyfile" ] && curl_tls+=(--key "$etcd_keyfile")
            if curl -fsS --max-time 10 "${curl_tls[@]}" "${etcd_endpoints%%,*}/v2/keys${prefix}?recursive=true" >"$out/etcd/v2.json.tmp" 2>/dev/null; then
                mv "$out/etcd/v2.json.tmp" "$out/etcd/v2.json"; return
            fi
        fi
    done
    rm -f "$out/etcd/"*.tmp
    note "no flannel data found in etcd at $etcd_endpoints (prefixes ${etcd_prefix:-/coreos.com/network /flannel/network})"
}

# ---------------------------------------------------------------- host
run_to() { # FILE CMD... : runs CMD into FILE when its tool exists; keeps nothing on failure.
    local f="$1"; shift
    if ! command -v "$1" >/dev/null; then note "$1 not found: $(basename "$f") not captured"; return; fi
    if "$@" >"$f.tmp" 2>/dev/null; then mv "$f.tmp" "$f"; else note "$* failed: $(basename "$f") not captured"; rm -f "$f.tmp"; fi
}

copy_file() { # SRC DEST
    if [ -f "$1" ]; then cp "$1" "$2"; fi
}

capture_host() {
    local name="${node:-$(hostname)}" d
    d="$out/nodes/$name"
    mkdir -p "$d"
    run_to "$d/ip-link.json" ip -j -d link show
    run_to "$d/ip-addr.json" ip -j -d addr show
    run_to "$d/ip-route.json" ip -j -d route show table all
    run_to "$d/ip-route6.json" ip -j -d -6 route show table all
    run_to "$d/ip-rule.json" ip -j rule show
    run_to "$d/ip-neigh.json" ip -j neigh show
    run_to "$d/bridge-fdb.json" bridge -j fdb show
    if [ -e /proc/net/ip_vs ]; then run_to "$d/ipvs.txt" ipvsadm -Sn; else note "no IPVS in this kernel: ipvs.txt not captured"; fi
    if command -v iptables-save >/dev/null; then run_to "$d/iptables-save.txt" iptables-save; else note "iptables-save not found: iptables-save.txt not captured"; fi
    run_to "$d/sysctl.txt" sysctl -a
    copy_file "${host_root%/}/etc/resolv.conf" "$d/resolv.conf"
    copy_file "${host_root%/}/var/lib/kubelet/config.yaml" "$d/kubelet-config.yaml"
    copy_file "${host_root%/}/run/flannel/subnet.env" "$d/subnet.env"
    local pid
    pid="$(pgrep -o -x kubelet 2>/dev/null || true)"
    if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" >"$d/kubelet-args.txt"; echo >>"$d/kubelet-args.txt"
    elif [ -f "${host_root%/}/var/lib/kubelet/kubeadm-flags.env" ]; then
        cp "${host_root%/}/var/lib/kubelet/kubeadm-flags.env" "$d/kubelet-args.txt"
    fi
    local rc=""
    if [ -f "$d/kubelet-config.yaml" ]; then
        rc="$(sed -n 's/^resolvConf:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$d/kubelet-config.yaml" | head -1)"
    fi
    if [ -n "$rc" ]; then copy_file "${host_root%/}$rc" "$d/kubelet-resolv.conf"; fi
    return 0
}

[ "$host_only" = 1 ] || capture_cluster
[ "$host_only" = 1 ] || capture_etcd
[ "$cluster_only" = 1 ] || capture_host
printf '{"format":"netdoctor-capture/v1","captured_at":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$out/meta.json"
[ "$redact" = 1 ] && redact_capture "$out"
echo "capture.sh: wrote $out; evaluate it with: netdoctor eval --capture $out" >&2
