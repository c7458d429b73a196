// The report as text: a header, one row per node, the data at risk, the warnings.

import Table from "cli-table3";
import { age as ago } from "../components/pgbackrest";
import { ArchiveReport, BackupReport, EndpointReport, formatBytes, NodeReport, Report } from "./report";

const NO_BORDER = {
    top: "", "top-mid": "", "top-left": "", "top-right": "", bottom: "", "bottom-mid": "", "bottom-left": "",
    "bottom-right": "", left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "  ",
};

function seconds(s: number | null): string {
    return s === null ? "-" : `${s < 10 ? s.toFixed(3) : s.toFixed(0)}s`;
}

function archiveLine(a: ArchiveReport): string {
    const last = a.lastArchived ? `last ${a.lastArchived.wal} ${ago(a.lastArchived.ageSeconds)} ago` : "nothing archived yet";
    return `archive   ${a.node}: ${a.failing ? `FAILING (segment ${a.failing.wal} at ${a.failing.failedAt}), `
        : a.stalled ? `STALLED (the oldest waiting ${a.stalled.seconds}s, no attempt failed), ` : ""}` +
        `${a.ready} segment${a.ready === 1 ? "" : "s"} waiting, ${last}`;
}

/** A schedule's interval as backup.schedule spells it: whole days, hours or minutes (else seconds). */
function interval(seconds: number): string {
    const unit = ([[86400, "d"], [3600, "h"], [60, "m"]] as const).find(([n]) => seconds % n === 0);
    return unit ? `${seconds / unit[0]}${unit[1]}` : `${seconds}s`;
}

function backupLine(b: BackupReport): string {
    const head = `backup    ${b.volume} (stanza ${b.stanza})`;
    if (b.error) {
        return `${head}: CANNOT BE READ (${b.error})`;
    }
    const newest = b.newest ? `newest ${b.newest.type} ${b.newest.label} ${ago(b.newest.ageSeconds)} ago` : "NO BACKUP";
    const verified = b.proofUnread ? `PROOF RECORDS CANNOT BE READ (${b.proofUnread})`
        : (b.verified ? `restore verified ${ago(b.verified.ageSeconds)} ago (of ${b.verified.backup})` : "restore NEVER VERIFIED") +
        (b.verifyFailed ? `, LAST PROOF FAILED ${b.verifyFailed.at}` : "");
    const s = b.schedule;
    const every = s ? [["full", s.fullSeconds], ["diff", s.diffSeconds], ["incr", s.incrSeconds]].filter(([, x]) => Number(x) > 0)
        .map(([kind, x]) => `${kind} every ${interval(Number(x))}`).join(", ") : "";
    const schedule = s ? `; scheduled: ${every} (scheduler ${s.state === "running" ? "running" : s.state.toUpperCase()})` : "";
    return `${head}: ${b.backups} backup${b.backups === 1 ? "" : "s"}, ${newest}; ${verified}${schedule}`;
}

function roleWords(n: NodeReport): string {
    if (n.role === "primary") {
        return "primary";
    }
    if (n.role !== null) {
        return `${n.role} standby`;
    }
    return n.plannedRole === "primary" ? "primary (planned)" : `${n.plannedRole} standby (planned)`;
}

function slotWords(n: NodeReport): string {
    if (!n.slot) {
        return "-";
    }
    const held = `${formatBytes(n.slot.heldBytes)}/${n.slot.limitBytes === null ? "unlimited" : formatBytes(n.slot.limitBytes)}`;
    return `${n.slot.active ? "active" : "inactive"} ${held} ${n.slot.walStatus ?? ""}`.trim();
}

export function renderText(r: Report): string {
    const c = r.cluster;
    const p = r.policy;
    const found = c.primary.found.length === 0 ? "none" : c.primary.found.join(", ");
    const live = p.live
        ? `synchronous_standby_names='${p.live.synchronousStandbyNames}' synchronous_commit=${p.live.synchronousCommit}`
        : "unknown (no primary reachable)";
    const needs = p.method === "none"
        ? "commits wait for no standby"
        : `needs ${p.required} of ${p.candidates.join(", ")}; streaming: ${p.confirming.join(", ") || "none"}`;
    // Nodes whose engine did not answer were seen over SQL at best: the summary says so first.
    const unseen = r.nodes.filter((n) => n.container.state === "unknown").map((n) => n.name);
    // The server version: "on every node" once every node answered with it; the table has each node's when they differ.
    const versions = new Set(r.nodes.map((n) => n.version).filter((v) => v !== null));
    const everyNode = r.nodes.length > 1 && versions.size === 1 && r.nodes.every((n) => n.version !== null);
    const version = versions.size > 1 ? `PostgreSQL ${c.version ?? "?"} on the primary, others differ`
        : `PostgreSQL ${c.version ?? "?"}${everyNode ? " on every node" : ""}`;
    const lines = [
        `stack ${r.stack}   checked ${r.checkedAt}   ${r.healthy ? "HEALTHY" : `${r.warnings.length} WARNING${r.warnings.length === 1 ? "" : "S"}`}` +
            (unseen.length > 0 ? `   ENGINE NOT ANSWERING: ${unseen.join(", ")}` : ""),
        `cluster   system ${c.systemIdentifier ?? "?"}   ${version}   timeline ${c.timeline ?? "?"}   WAL ${c.currentLsn ?? "?"}`,
        `primary   declared ${c.primary.declared}   found ${found}`,
        `policy    configured ${p.configured.mode} ('${p.configured.synchronousStandbyNames}', ${p.configured.synchronousCommit})`,
        `          live ${live}`,
        `          ${needs}   satisfied now: ${p.satisfied === null ? "unknown" : p.satisfied ? "yes" : "NO"}`,
        ...([["rw", r.endpoint], ["ro", r.readEndpoint], ...(r.moreEndpoints ?? []).map((e) => [e.kind, e])] as ["rw" | "ro", EndpointReport | undefined][])
            .flatMap(([kind, e]) => e ? [`endpoint  ${kind} ${e.address} → ` +
                (e.state === "down" ? `DOES NOT ANSWER (${e.error})` : `${e.reaches} (${e.state})`)] : []),
        ...(r.backup ? [backupLine(r.backup)] : []),
        ...(r.archive ? [archiveLine(r.archive)] : []),
        "",
    ];
    // Which engine each node runs on, only when they differ: one-engine stacks keep their columns.
    const engines = new Set(r.nodes.map((n) => n.engine)).size > 1;
    // Each node's image and server version, only when they differ (a roll midway).
    const imageOf = (n: NodeReport) => `${n.container.image ?? "?"}${n.version ? ` (${n.version})` : ""}`;
    const differ = (values: (string | null)[]) => new Set(values.filter((v) => v !== null)).size > 1;
    const images = differ(r.nodes.map((n) => n.container.image)) || differ(r.nodes.map((n) => n.version));
    const table = new Table({
        head: ["NODE", "ADDRESS", "ROLE", "STATE", "TL", "RECEIVED", "REPLAYED", "LAG", "LAG TIME w/f/r", "SLOT held/limit",
            ...engines ? ["ENGINE"] : [], ...images ? ["IMAGE (VERSION)"] : []],
        chars: NO_BORDER,
        style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
    });
    for (const n of r.nodes) {
        table.push([
            n.name,
            `${n.host}:${n.port}`,
            roleWords(n),
            n.state,
            n.timeline === null ? "-" : String(n.timeline),
            n.receivedLsn ?? "-",
            n.replayedLsn ?? "-",
            n.lag ? formatBytes(n.lag.replayedBytes) : "-",
            n.lag ? [n.lag.writeSeconds, n.lag.flushSeconds, n.lag.replaySeconds].map(seconds).join(" ") : "-",
            slotWords(n),
            ...engines ? [n.engine] : [],
            ...images ? [imageOf(n)] : [],
        ]);
    }
    lines.push(...table.toString().split("\n").map((l) => l.trimEnd()), "");
    lines.push(`data at risk: ${r.dataAtRisk.text}`);
    if (r.warnings.length > 0) {
        lines.push("", "warnings:");
        for (const w of r.warnings) {
            lines.push(`  ! ${w.message}`, `    → ${w.action}`);
        }
    }
    return lines.join("\n") + "\n";
}

/** One frame of --watch: cursor home, each line cleared to its end, the rest of the screen cleared; no full clear, so no flicker. */
export function watchFrame(text: string): string {
    return "\x1b[H" + text.replace(/\n$/, "").split("\n").map((l) => `${l}\x1b[K`).join("\n") + "\n\x1b[J";
}
