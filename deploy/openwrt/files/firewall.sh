#!/bin/sh
# The fw4 includes (switchable with `option firewall` in /etc/config/straja): LAN DNS to
# the router, DoT and DoQ from the LAN rejected, so clients cannot go around the filter.
# Sourced by the init script.
# shellcheck disable=SC3043 # BusyBox ash supports local

straja_firewall_apply() {
	local before
	before=$(uci -q export firewall)
	uci -q batch <<-UCI
		set firewall.straja_dns=include
		set firewall.straja_dns.type=nftables
		set firewall.straja_dns.path=/usr/share/straja/fw4-dstnat-lan.nft
		set firewall.straja_dns.position=chain-pre
		set firewall.straja_dns.chain=dstnat_lan
		set firewall.straja_bypass=include
		set firewall.straja_bypass.type=nftables
		set firewall.straja_bypass.path=/usr/share/straja/fw4-forward-lan.nft
		set firewall.straja_bypass.position=chain-pre
		set firewall.straja_bypass.chain=forward_lan
	UCI
	uci commit firewall
	[ "$before" = "$(uci -q export firewall)" ] || fw4 -q reload
}

straja_firewall_remove() {
	uci -q get firewall.straja_dns >/dev/null || uci -q get firewall.straja_bypass >/dev/null ||
		return 0
	uci -q delete firewall.straja_dns
	uci -q delete firewall.straja_bypass
	uci commit firewall
	fw4 -q reload
}
