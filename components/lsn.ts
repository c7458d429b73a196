// PostgreSQL WAL positions (pg_lsn, printed "16/B374D848") for the program's topology check, the
// status tool and the drill: one parser, one formatter, one comparison and one difference, all on
// exact byte positions (bigint), so two positions are never compared as text or as doubles.

/** A WAL position: bytes from the start of WAL. "X/Y" is (X << 32) + Y. */
export type Lsn = bigint;

/** As pg_lsn's input accepts it: 1 to 8 hex digits, a slash, 1 to 8 hex digits. */
const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

const MAX_LSN: Lsn = (1n << 64n) - 1n;

/** "X/Y" to its byte position; anything else throws `not a WAL position: "<text>"`. */
export function parseLsn(text: string): Lsn {
    const m = LSN_TEXT.exec(text);
    if (!m) {
        throw new Error(`not a WAL position: ${JSON.stringify(text)}`);
    }
    return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** A byte position as PostgreSQL prints it ("0/50206F0": upper-case hex, no leading zeros). */
export function formatLsn(pos: Lsn): string {
    if (pos < 0n || pos > MAX_LSN) {
        throw new Error(`not a WAL position: ${pos} is outside 0 .. 2^64-1`);
    }
    return `${(pos >> 32n).toString(16).toUpperCase()}/${(pos & 0xFFFFFFFFn).toString(16).toUpperCase()}`;
}

/** -1, 0 or 1 as the position `a` is before, at or after `b` (both "X/Y"). */
export function compareLsn(a: string, b: string): number {
    const d = lsnDiff(a, b);
    return d > 0n ? 1 : d < 0n ? -1 : 0;
}

/** How many bytes of WAL the position `a` is beyond `b` (both "X/Y"); negative when it is before. */
export function lsnDiff(a: string, b: string): bigint {
    return parseLsn(a) - parseLsn(b);
}

/** Whether TEXT is a WAL position as pg_lsn reads it ("X/Y", each 1 to 8 hex digits). */
export function isLsn(text: string): boolean {
    return LSN_TEXT.test(text);
}

/** A WAL segment file's number on its timeline (24 hex digits: the timeline, then 16 MB segments in two parts of 8). */
export function segmentNumber(name: string): number {
    return parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16);
}

/** The name of segment N on TIMELINE (8 hex digits), as PostgreSQL spells it. */
export function segmentName(timeline: string, n: number): string {
    const hex = (x: number) => x.toString(16).toUpperCase().padStart(8, "0");
    return `${timeline}${hex(Math.floor(n / 256))}${hex(n % 256)}`;
}

/** The 16 MB segment a WAL position ("X/Y") is in, as segmentNumber counts them. */
export function lsnSegment(lsn: string): number {
    return Number(parseLsn(lsn) >> 24n);
}
