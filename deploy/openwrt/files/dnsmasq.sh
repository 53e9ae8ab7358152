#!/bin/sh
# dnsmasq beside Straja, in the mode /etc/config/straja names. Sourced by the init script.
# Every dnsmasq setting Straja changes is first kept in the same section as
# straja_orig_<option> ('-' where it was unset) and put back by straja_dnsmasq_restore, on
# stop and on package removal, so dnsmasq ends up exactly as the operator left it.
# shellcheck disable=SC3043 # BusyBox ash supports local

STRAJA_DNSMASQ_SECTION='dhcp.@dnsmasq[0]'
STRAJA_LAN_SECTION='dhcp.lan'
STRAJA_LOCAL_DNS_PORT=5354 # replace mode: dnsmasq's DNS, for the DHCP hostnames only

# option name, list or option: in dnsmasq's section and in the LAN's dhcp section.
STRAJA_DNSMASQ_OPTIONS='noresolv:option server:list cachesize:option addmac:option
addsubnet:option port:option nonwildcard:option listen_address:list'
STRAJA_LAN_OPTIONS='dhcp_option:list dns:list'

straja_uci_backup() { # section option
	uci -q get "$1.straja_orig_$2" >/dev/null && return 0
	local value
	value=$(uci -q get "$1.$2") || value='-'
	uci set "$1.straja_orig_$2=$value"
}

straja_uci_restore() { # section option option|list
	local value item
	value=$(uci -q get "$1.straja_orig_$2") || return 0
	uci -q delete "$1.$2"
	if [ "$value" != '-' ]; then
		if [ "$3" = list ]; then
			for item in $value; do uci add_list "$1.$2=$item"; done
		else
			uci set "$1.$2=$value"
		fi
	fi
	uci -q delete "$1.straja_orig_$2"
}

straja_each_option() { # function: called with section option kind for every option we touch
	local entry
	for entry in $STRAJA_DNSMASQ_OPTIONS; do
		"$1" "$STRAJA_DNSMASQ_SECTION" "${entry%%:*}" "${entry##*:}"
	done
	for entry in $STRAJA_LAN_OPTIONS; do
		"$1" "$STRAJA_LAN_SECTION" "${entry%%:*}" "${entry##*:}"
	done
}

straja_dnsmasq_apply() { # forward|replace port
	local mode="$1" port="$2" lan_ip before
	before=$(uci -q export dhcp)
	straja_each_option straja_uci_restore
	straja_each_option straja_uci_backup
	local d="$STRAJA_DNSMASQ_SECTION"
	# Straja's upstreams come from the WAN's DHCP; dnsmasq reads no resolv.conf either way.
	uci set "$d.noresolv=1"
	uci -q delete "$d.server"
	if [ "$mode" = replace ]; then
		# Straja answers on 53; dnsmasq answers the DHCP hostnames on loopback only, and
		# DHCP tells clients to use the router (dnsmasq stops saying so once off port 53).
		uci set "$d.port=$STRAJA_LOCAL_DNS_PORT"
		uci set "$d.nonwildcard=1"
		uci -q delete "$d.listen_address"
		uci add_list "$d.listen_address=127.0.0.1"
		# shellcheck source=/dev/null
		. /lib/functions/network.sh
		network_get_ipaddr lan_ip lan
		[ -n "$lan_ip" ] && uci add_list "$STRAJA_LAN_SECTION.dhcp_option=6,$lan_ip"
	else
		# dnsmasq keeps 53 and DHCP and forwards everything to Straja, adding each client's
		# MAC and address so Straja's per-client groups still apply (trusted_forwarders).
		uci add_list "$d.server=127.0.0.1#$port"
		uci set "$d.addmac=1"
		uci set "$d.addsubnet=32,128"
		# No cache in dnsmasq: one group's answer must never be handed to another client.
		uci set "$d.cachesize=0"
	fi
	# odhcpd announces the router itself (RDNSS, DHCPv6 DNS) when no other list is given.
	uci -q delete "$STRAJA_LAN_SECTION.dns"
	uci commit dhcp
	[ "$before" = "$(uci -q export dhcp)" ] || /etc/init.d/dnsmasq restart
}

straja_dnsmasq_restore() {
	local before
	before=$(uci -q export dhcp)
	straja_each_option straja_uci_restore
	uci commit dhcp
	[ "$before" = "$(uci -q export dhcp)" ] || /etc/init.d/dnsmasq restart
}
