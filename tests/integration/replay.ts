// Plays the resource graph the program declares (recorded under Pulumi's mocks) against a real
// Docker engine: networks, volumes and containers are made from their recorded inputs with the
// docker CLI, commands run their recorded scripts with their recorded environment and stdin,
// and the role is created over SQL the way the postgresql provider does. It stands in for the
// provider plugins this machine cannot build, so the scripts, the container settings and the
// replication itself are checked for real. It is not the Pulumi engine: the end-to-end suite
// (tests/e2e) is the test of that.

import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import { plain, Recorded, Run } from "../support/mocked-program";

export function sh(args: string[], input?: string | Buffer): string {
    const res = spawnSync(args[0], args.slice(1), { input, encoding: "utf8" });
    if (res.status !== 0) {
        throw new Error(`${args.join(" ")} failed (${res.status}): ${res.stderr}`);
    }
    return res.stdout.trim();
}

function runShell(script: string, env: Record<string, string>, stdin: string): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("/bin/sh", ["-c", script], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
        let stderr = "";
        child.stdout.on("data", () => undefined);
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code: code ?? -1, stderr }));
        child.stdin.end(stdin);
    });
}

const kind = (r: Recorded) => r.type.split(":").pop()!;

export class Replayer {
    /** How long each resource took to create, in creation order. */
    readonly timings: { type: string; name: string; ms: number }[] = [];
    private readonly imageNames = new Map<string, string>();
    private readonly providers = new Map<string, Record<string, any>>();

    async create(r: Recorded): Promise<void> {
        const started = Date.now();
        await this.make(r);
        this.timings.push({ type: kind(r), name: r.name, ms: Date.now() - started });
    }

    private async make(r: Recorded): Promise<void> {
        const i = plain(r.inputs);
        switch (kind(r)) {
            case "Network":
                sh(["docker", "network", "create", "--driver", i.driver, "--subnet", i.ipamConfigs[0].subnet,
                    "--gateway", i.ipamConfigs[0].gateway, ...labelArgs(i.labels), i.name]);
                break;
            case "RemoteImage":
                sh(["docker", "image", "inspect", i.name]);
                this.imageNames.set(`sha256:0123456789ab${i.name}`, i.name);
                break;
            case "Volume":
                sh(["docker", "volume", "create", ...labelArgs(i.labels), i.name]);
                break;
            case "Container":
                await this.createContainer(i);
                break;
            case "Command":
                await this.runCommand(r, i.create);
                break;
            case "postgresql":
                this.providers.set(r.name, i);
                break;
            case "Role":
                await this.createRole(r, i);
                break;
            default:
                // components: nothing to make
        }
    }

    async update(before: Recorded, after: Recorded): Promise<void> {
        const i = plain(after.inputs);
        if (kind(after) !== "Command") {
            throw new Error(`the plan changes ${after.type} ${after.name}, which would replace it`);
        }
        if (JSON.stringify(plain(before.inputs.triggers)) !== JSON.stringify(i.triggers)) {
            await this.delete(before);
            await this.create(after);
        } else {
            await this.runCommand(after, i.update ?? i.create);
        }
    }

    async delete(r: Recorded): Promise<void> {
        const i = plain(r.inputs);
        switch (kind(r)) {
            case "Command":
                if (i.delete) {
                    await this.runCommand(r, i.delete);
                }
                break;
            case "Container":
                sh(["docker", "rm", "-f", "-v", i.name]);
                break;
            case "Volume":
                sh(["docker", "volume", "rm", i.name]);
                break;
            case "Network":
                sh(["docker", "network", "rm", i.name]);
                break;
            default:
        }
    }

    /** What `pulumi up` does for a first deployment: everything, in dependency order. */
    async up(run: Run): Promise<void> {
        for (const r of run.resources) {
            await this.create(r);
        }
    }

    /** What `pulumi up` does for a changed plan: creates and updates first, then deletes in reverse. */
    async change(before: Run, after: Run): Promise<string[]> {
        const key = (r: Recorded) => `${r.type}::${r.name}`;
        const old = new Map(before.resources.map((r) => [key(r), r]));
        const steps: string[] = [];
        for (const r of after.resources) {
            const was = old.get(key(r));
            if (!was) {
                steps.push(`create ${r.name}`);
                await this.create(r);
            } else if (JSON.stringify(was.inputs) !== JSON.stringify(r.inputs)) {
                steps.push(`update ${r.name}`);
                await this.update(was, r);
            }
        }
        const kept = new Set(after.resources.map(key));
        for (const r of [...before.resources].reverse().filter((x) => !kept.has(key(x)))) {
            steps.push(`delete ${r.name}`);
            await this.delete(r);
        }
        return steps;
    }

    async destroy(run: Run): Promise<void> {
        for (const r of [...run.resources].reverse()) {
            await this.delete(r);
        }
    }

    private async runCommand(r: Recorded, script: string): Promise<void> {
        const i = plain(r.inputs);
        const { code, stderr } = await runShell(script, i.environment ?? {}, i.stdin ?? "");
        if (code !== 0) {
            throw new Error(`command ${r.name} failed (${code}):\n${stderr}`);
        }
    }

    private async createContainer(i: any): Promise<void> {
        const image = this.imageNames.get(i.image) ?? i.image;
        const hc = i.healthcheck;
        const args = ["docker", "create", "--name", i.name, "--hostname", i.hostname, ...labelArgs(i.labels),
            "--network", i.networksAdvanced[0].name, "--ip", i.networksAdvanced[0].ipv4Address,
            ...i.ports.flatMap((p: any) => ["-p", `${p.ip}:${p.external}:${p.internal}`]),
            ...i.volumes.flatMap((v: any) => ["-v", `${v.volumeName}:${v.containerPath}`]),
            ...i.envs.flatMap((e: string) => ["-e", e]),
            "--health-cmd", hc.tests.slice(1).join(" "), "--health-interval", hc.interval, "--health-timeout", hc.timeout,
            "--health-retries", String(hc.retries), "--health-start-period", hc.startPeriod,
            "--restart", i.restart, image, ...i.command];
        sh(args);
        for (const upload of i.uploads ?? []) {
            // One tar entry and no parent directories, as the provider uploads it.
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-upload-"));
            try {
                const rel = upload.file.replace(/^\//, "");
                fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
                fs.writeFileSync(path.join(dir, rel), upload.content, { mode: 0o644 });
                const tar = spawnSync("tar", ["-C", dir, "--no-recursion", "-cf", "-", rel]);
                sh(["docker", "cp", "-", `${i.name}:/`], tar.stdout);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        }
        sh(["docker", "start", i.name]);
        if (i.wait) {
            const deadline = Date.now() + i.waitTimeout * 1000;
            let status = "";
            while (Date.now() < deadline) {
                status = sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", i.name]);
                if (status === "healthy") {
                    return;
                }
                await new Promise((res) => setTimeout(res, 250));
            }
            throw new Error(`container ${i.name} not healthy after ${i.waitTimeout}s (${status}):\n${sh(["docker", "logs", "--tail", "30", i.name])}`);
        }
    }

    private async createRole(r: Recorded, i: any): Promise<void> {
        const p = this.providers.get(r.provider!)!;
        const client = new Client({ host: p.host, port: Number(p.port), user: p.username, password: p.password, database: p.database });
        await client.connect();
        try {
            const limit = i.connectionLimit ?? -1;
            await client.query(`CREATE ROLE "${i.name}" WITH ${i.login ? "LOGIN" : "NOLOGIN"} ` +
                `${i.replication ? "REPLICATION" : "NOREPLICATION"} CONNECTION LIMIT ${limit} PASSWORD ${client.escapeLiteral(i.password)}`);
        } finally {
            await client.end();
        }
    }
}

function labelArgs(labels: { label: string; value: string }[]): string[] {
    return labels.flatMap((l) => ["--label", `${l.label}=${l.value}`]);
}
