// Just enough IPv4 arithmetic to check a Docker bridge plan before anything is created.

const OCTETS = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses dotted-quad text to a 32-bit number, or undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
    const m = OCTETS.exec(text);
    if (!m) {
        return undefined;
    }
    const parts = m.slice(1).map(Number);
    // Leading zeros are read as octal by some tools, so refuse them outright.
    if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) {
        return undefined;
    }
    return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIPv4(value: number): string {
    return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

export interface Subnet {
    readonly cidr: string;
    readonly network: number;
    readonly prefix: number;
    readonly broadcast: number;
    /** Docker gives a bridge's gateway the first host address unless told otherwise. */
    readonly gateway: number;
}

export type SubnetParse = { subnet: Subnet } | { problem: string };

export function parseSubnet(text: string, minPrefix: number, maxPrefix: number): SubnetParse {
    const [addr, bits, extra] = text.split("/");
    const network = parseIPv4(addr ?? "");
    if (extra !== undefined || network === undefined || !/^\d{1,2}$/.test(bits ?? "")) {
        return { problem: "expected an IPv4 network in CIDR form, such as 172.18.0.0/24" };
    }
    const prefix = Number(bits);
    if (prefix < minPrefix || prefix > maxPrefix) {
        return { problem: `expected a prefix length from /${minPrefix} to /${maxPrefix}` };
    }
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if ((network & mask) >>> 0 !== network) {
        return { problem: `expected the network address itself (host bits zero): ${formatIPv4((network & mask) >>> 0)}/${prefix}` };
    }
    const broadcast = (network | (~mask >>> 0)) >>> 0;
    return { subnet: { cidr: `${formatIPv4(network)}/${prefix}`, network, prefix, broadcast, gateway: network + 1 } };
}
