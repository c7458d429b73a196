// In-container shell fragments: files in components/scripts that define shell functions for a
// throwaway container on a node's volume, shared by the command scripts (shell.ts) and the topology
// step (topology/act.ts), so a rule that must run inside a container is written once. No Pulumi here.

import * as fs from "node:fs";
import * as path from "node:path";

/** Each fragment and the variable a command script names it by ("$STANDBY_CONF_SH"). */
export const FRAGMENTS: Readonly<Record<string, string>> = { STANDBY_CONF_SH: "standby-conf.sh", CLONE_SH: "clone.sh",
    POOLER_WATCH_SH: "pooler-watch.sh", RESTORE_SH: "restore.sh", PG_UPGRADE_SH: "pg-upgrade.sh" };

/** The directory of the scripts and fragments (copied next to the compiled program by `npm run build`). */
export const SCRIPTS_DIR = path.join(__dirname, "scripts");

/** A fragment's text. */
export function fragment(file: string): string {
    return fs.readFileSync(path.join(SCRIPTS_DIR, file), "utf8");
}

/** BODY with, in front, each fragment variable it names, set to the fragment's text (a quoted heredoc: no expansion). */
export function withFragments(body: string): string {
    const used = Object.entries(FRAGMENTS).filter(([name]) => body.includes(`$${name}`));
    return [...used.map(([name, file]) => `${name}=$(cat <<'FRAGMENT'\n${fragment(file).trimEnd()}\nFRAGMENT\n)`), body].join("\n");
}

/** key=value lines a fragment prints (backup-restore.sh, restore.sh's selection) as a record; other lines are ignored. */
export function parseLines(text: string): Record<string, string> {
    return Object.fromEntries(text.split("\n").filter((l) => /^[a-z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}
