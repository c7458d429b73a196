// npm run backup -- STACK [full|diff|incr] [--cwd DIR]
// npm run verify-backup -- STACK [--json] [--cwd DIR]
// npm run restore-point -- STACK NAME [--cwd DIR]
//
// backup: a backup of the running stack (pgBackRest; default incr, or full when the repository
// has none): in the backup scheduler while it runs, as it takes its own (from a streaming standby
// with backup.schedule.fromStandby), else on the node that is primary now. verify-backup: the verified restore
// (backup/core.ts verifyRestore): exit 0 only when the restore reached the marker written just
// before it and read every table and index; 1 when it did not; 2 when it could not run. The stack
// is found as the status tool finds it (components/project.ts). restore-point: a named restore
// point on the primary, archived and recorded in the repository (backup/core.ts createRestorePoint),
// for pg-replication:restore's target {name: NAME}. README "Backups".

import { parseArgs } from "node:util";
import { openWorkspace, projectRoot } from "../components/project";
import { BACKUP_TYPES, BackupToolError, BackupType, createRestorePoint, takeBackup, targetFromOutputs, verifyRestore } from "./core";

const USAGE = "usage: npm run backup -- STACK [full|diff|incr] [--cwd DIR]\n       npm run verify-backup -- STACK [--json] [--cwd DIR]\n" +
    "       npm run restore-point -- STACK NAME [--cwd DIR]";
/** Bound on each backup and on each step of a restore, in seconds. */
const TIMEOUT_SECONDS = Number(process.env.PG_REPLICATION_BACKUP_TIMEOUT ?? 1800);

async function main(): Promise<number> {
    let parsed;
    try {
        parsed = parseArgs({ allowPositionals: true, options: {
            verify: { type: "boolean", default: false },
            "restore-point": { type: "boolean", default: false },
            json: { type: "boolean", default: false },
            cwd: { type: "string" },
            help: { type: "boolean", short: "h", default: false },
        } });
    } catch (err) {
        process.stderr.write(`backup: ${(err as Error).message}\n${USAGE}\n`);
        return 2;
    }
    const { values, positionals } = parsed;
    if (values.help) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    const point = values["restore-point"];
    const [stack, type = point ? "" : "incr", ...rest] = positionals;
    if (point && (!stack || !type || rest.length > 0)) {
        process.stderr.write(`backup: expected a stack name and the restore point's name\n${USAGE}\n`);
        return 2;
    }
    if (!point && (!stack || rest.length > 0 || (values.verify && positionals.length > 1) || !BACKUP_TYPES.includes(type as BackupType))) {
        process.stderr.write(`backup: expected a stack name${values.verify ? "" : ` and at most one of ${BACKUP_TYPES.join(", ")}`}\n${USAGE}\n`);
        return 2;
    }
    let target;
    try {
        const ws = await openWorkspace({ workDir: values.cwd ?? projectRoot() });
        const outputs = Object.fromEntries(Object.entries(await ws.stackOutputs(stack)).map(([k, v]) => [k, v.value]));
        target = targetFromOutputs(stack, outputs);
    } catch (err) {
        process.stderr.write(`backup: cannot read stack ${stack}: ${(err as Error).message.split("\n")[0]}\n`);
        return 2;
    }
    const log = (s: string) => process.stderr.write(`backup: ${s}\n`);
    try {
        if (point) {
            const p = await createRestorePoint(target, type);
            process.stdout.write(`restore point ${p.name} made on ${p.primary} at LSN ${p.lsn} (timeline ${p.timeline}), archived and recorded ` +
                `in ${target.volume}; restore to it with pg-replication:restore target {name: ${p.name}}\n`);
            return 0;
        }
        if (!values.verify) {
            const b = await takeBackup(target, type as BackupType, TIMEOUT_SECONDS);
            process.stdout.write(`${type} backup ${b.label} of ${target.stanza} taken ${b.source === b.primary ? `on the primary ${b.primary}`
                : `from the standby ${b.source} (the primary is ${b.primary})`} in ${b.seconds.toFixed(1)} s\n`);
            return 0;
        }
        const r = await verifyRestore(target, { timeoutSeconds: TIMEOUT_SECONDS, log });
        if (values.json) {
            process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        } else {
            process.stdout.write(`${r.marker.found ? "VERIFIED" : "NOT VERIFIED: the restore lacks the marker written before it"}: ` +
                `backup ${r.backup} restored in ${r.restoreSeconds.toFixed(1)} s, archive replayed to its end in ` +
                `${r.recoverySeconds.toFixed(1)} s (LSN ${r.lsn}, timeline ${r.timeline}); ${r.tables} tables (${r.rows} rows) read, ` +
                `${r.indexesChecked} B-tree indexes checked\n`);
        }
        return r.marker.found ? 0 : 1;
    } catch (err) {
        process.stderr.write(`backup: ${err instanceof BackupToolError ? err.message : (err as Error).stack}\n`);
        return err instanceof BackupToolError && values.verify ? 1 : 2;
    }
}

main().then((code) => process.exit(code));
