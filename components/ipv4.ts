// IPv4 checks for a Docker bridge plan, on ipaddr.js: parsing, containment and overlap.

import * as ipaddr from "ipaddr.js";

/** True for plain dotted-quad text; leading zeros (octal to some tools) and short forms are refused. */
export function isIPv4(text: string): boolean {
    return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/** 127.0.0.0/8: an address only this host can reach. */
export function isLoopback(text: string): boolean {
    return isIPv4(text) && ipaddr.IPv4.parse(text).range() === "loopback";
}

/** The IPv4 address BY after ADDRESS (before it when negative). */
export function offset(address: ipaddr.IPv4, by: number): string {
    const bytes = address.toByteArray();
    const value = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    const next = (value + by) >>> 0;
    return ipaddr.fromByteArray([next >>> 24, (next >>> 16) & 255, (next >>> 8) & 255, next & 255]).toString();
}

export interface Subnet {
    readonly cidr: string;
    readonly prefix: number;
    /** Docker gives a bridge's gateway the first host address unless told otherwise. */
    readonly gateway: string;
    /** The first and last addresses a container may take (after the gateway, before broadcast). */
    readonly firstHost: string;
    readonly lastHost: string;
}

export type SubnetParse = { subnet: Subnet } | { problem: string };

export function parseSubnet(text: string, minPrefix: number, maxPrefix: number): SubnetParse {
    const [addr, bits, extra] = text.split("/");
    if (extra !== undefined || !isIPv4(addr ?? "") || !/^\d{1,2}$/.test(bits ?? "") || Number(bits) > 32) {
        return { problem: "expected an IPv4 network in CIDR form, such as 172.18.0.0/24" };
    }
    const prefix = Number(bits);
    if (prefix < minPrefix || prefix > maxPrefix) {
        return { problem: `expected a prefix length from /${minPrefix} to /${maxPrefix}` };
    }
    const network = ipaddr.IPv4.networkAddressFromCIDR(text);
    if (network.toString() !== addr) {
        return { problem: `expected the network address itself (host bits zero): ${network}/${prefix}` };
    }
    const broadcast = ipaddr.IPv4.broadcastAddressFromCIDR(text);
    return {
        subnet: {
            cidr: `${network}/${prefix}`,
            prefix,
            gateway: offset(network, 1),
            firstHost: offset(network, 2),
            lastHost: offset(broadcast, -1),
        },
    };
}

/** A container address inside the subnet: neither its network, broadcast nor gateway address. */
export function isHostIn(address: string, subnet: Subnet): boolean {
    if (!isIPv4(address)) {
        return false;
    }
    const ip = ipaddr.IPv4.parse(address);
    const [network, prefix] = ipaddr.IPv4.parseCIDR(subnet.cidr);
    const last = ipaddr.IPv4.parse(subnet.lastHost);
    const first = ipaddr.IPv4.parse(subnet.firstHost);
    const n = (a: ipaddr.IPv4) => a.toByteArray().reduce((acc, b) => acc * 256 + b, 0);
    return ip.match(network, prefix) && n(ip) >= n(first) && n(ip) <= n(last);
}

/** Whether two CIDR ranges share an address; anything that is not IPv4 CIDR never overlaps. */
export function subnetsOverlap(a: string, b: string): boolean {
    if (!ipaddr.IPv4.isValidCIDRFourPartDecimal(a) || !ipaddr.IPv4.isValidCIDRFourPartDecimal(b)) {
        return false;
    }
    const [na, pa] = ipaddr.IPv4.parseCIDR(a);
    const [nb, pb] = ipaddr.IPv4.parseCIDR(b);
    // Two ranges overlap exactly when the wider one contains the other's network address.
    return pa <= pb ? nb.match(na, pa) : na.match(nb, pb);
}

/** The address BY after ADDRESS (dotted quad; before it when negative). */
export function addressAfter(address: string, by: number): string {
    return offset(ipaddr.IPv4.parse(address), by);
}
