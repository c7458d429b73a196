// In-container shell fragments: files in components/scripts that define shell functions for a
// throwaway container on a node's volume, shared by the command scripts (shell.ts) and the topology
// step (topology/act.ts), so a rule that must run inside a container is written once. No Pulumi here.

import * as fs from "node:fs";
import * as path from "node:path";

/** Each fragment and the variable a command script names it by ("$STANDBY_CONF_SH"). */
export const FRAGMENTS: Readonly<Record<string, string>> = { STANDBY_CONF_SH: "standby-conf.sh", CLONE_SH: "clone.sh",
    POOLER_WATCH_SH: "pooler-watch.sh", RESTORE_SH: "restore.sh", PG_UPGRADE_SH: "pg-upgrade.sh",
    BACKUP_RESTORE_SH: "backup-restore.sh" };

/** The directory of the scripts and fragments (copied next to the compiled program by `npm run build`). */
export const SCRIPTS_DIR = path.join(__dirname, "scripts");

const cache = new Map<string, string>();

/** A fragment's (or any script file's) text. */
export function fragment(file: string): string {
    let text = cache.get(file);
    if (text === undefined) {
        text = fs.readFileSync(path.join(SCRIPTS_DIR, file), "utf8");
        cache.set(file, text);
    }
    return text;
}

/** Functions the host-side scripts and the in-container fragments both call, each in its own file, by the function's name. */
const SHARED: Readonly<Record<string, string>> = { dbname_conninfo: "dbname.sh" };

/** Host-side functions kept out of lib.sh, each in its own file, by the function's name: a script that names one gets its file. */
const FUNCTIONS: Readonly<Record<string, string>> = { clone_node: "node-clone.sh", backup_take: "backup-tools.sh", backup_verify: "backup-tools.sh",
    current_backups: "backup-tools.sh", newest_backup: "backup-tools.sh", in_each_database: "each-database.sh", ...SHARED };

/** The files of the functions of TABLE that TEXT names, then those of the functions their files name. */
function functionFiles(text: string, table: Readonly<Record<string, string>>): string[] {
    const files: string[] = [];
    const visit = (t: string): void => {
        for (const [name, file] of Object.entries(table)) {
            if (!files.includes(file) && new RegExp(`\\b${name}\\b`).test(t)) {
                files.push(file);
                visit(fragment(file));
            }
        }
    };
    visit(text);
    return files;
}

/**
 * A host-side script of BODY: lib.sh in front, then the files of the functions it names
 * (FUNCTIONS, and those their files name), then PRELUDE (variables set before the body runs), the
 * fragments it names as variables (withFragments). The commands (shell.ts script), the backup tools (backup/core.ts) and
 * the backup scheduler's container run scripts made so.
 */
export function scriptOf(body: string, prelude = ""): string {
    return withFragments([fragment("lib.sh"), ...functionFiles(body, FUNCTIONS).map(fragment), prelude, body].filter((part) => part !== "").join("\n"));
}

/** An in-container fragment as it runs: the files of the shared functions it names (SHARED) in front of its own text. */
export function inContainer(file: string): string {
    return [...functionFiles(fragment(file), SHARED).map(fragment), fragment(file)].join("\n");
}

/** BODY with, in front, each fragment variable it names, set to the fragment's text as it runs (inContainer; a quoted heredoc: no expansion). */
export function withFragments(body: string): string {
    const used = Object.entries(FRAGMENTS).filter(([name]) => body.includes(`$${name}`));
    return [...used.map(([name, file]) => `${name}=$(cat <<'FRAGMENT'\n${inContainer(file).trimEnd()}\nFRAGMENT\n)`), body].join("\n");
}

/** key=value lines a fragment prints (backup-restore.sh, restore.sh's selection) as a record; other lines are ignored. */
export function parseLines(text: string): Record<string, string> {
    return Object.fromEntries(text.split("\n").filter((l) => /^[a-z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}
