// M5 on the real engine: a generated password's command, updated because its script changed (as
// a code edit would change it), prints the password it already has. The engine decides the update
// and the command stand-in (or the real plugin) runs the update script with the previous stdout.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as command from "@pulumi/command";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { GENERATE, KEEP_PREVIOUS } from "../../components/secrets";
import { startStandIns, StandIns } from "../../stand-ins/launch";

describe("a generated password survives an update of its command", { timeout: 5 * 60 * 1000 }, () => {
    const backend = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-e2e-gen-"));
    // The workspace's folder: the engine starts the plugins there (the stand-ins are told so).
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-replication-e2e-gen-work-"));
    let standIns: StandIns | undefined;
    let createText = GENERATE;
    let stack: Stack;

    before(async () => {
        if (process.env.PG_REPLICATION_STAND_IN_PLUGINS === "1") {
            standIns = await startStandIns({ pwd: workDir });
        }
        stack = await LocalWorkspace.createOrSelectStack({
            stackName: "e2e-generated", projectName: "pg-replication-generated",
            program: async () => {
                const generated = new command.local.Command("password", { create: createText, update: KEEP_PREVIOUS, logging: "none" },
                    { additionalSecretOutputs: ["stdout", "stderr"] });
                return { password: generated.stdout };
            },
        }, {
            workDir,
            projectSettings: { name: "pg-replication-generated", runtime: "nodejs", backend: { url: `file://${backend}` } },
            secretsProvider: "passphrase",
            envVars: {
                PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase", PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_SKIP_UPDATE_CHECK: "true",
                ...(standIns ? { PULUMI_DEBUG_PROVIDERS: standIns.debugProviders, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" } : {}),
            },
        });
    });
    after(async () => {
        await stack?.destroy({ onOutput: () => undefined }).catch(() => undefined);
        await standIns?.stop();
        fs.rmSync(backend, { recursive: true, force: true });
        fs.rmSync(workDir, { recursive: true, force: true });
    });

    test("an edited create script is an update that prints the same password, secret and unlogged", async () => {
        const first = await stack.up({ onOutput: () => undefined });
        const password = first.outputs.password.value as string;
        assert.match(password, /^[A-Za-z0-9]{32}$/);
        assert.equal(first.outputs.password.secret, true);

        createText = `${GENERATE} # edited`;
        const second = await stack.up({ onOutput: () => undefined });
        assert.deepEqual(second.summary.resourceChanges, { same: 1, update: 1 });
        assert.equal(second.outputs.password.value, password, "the update printed the password it had");
        assert.doesNotMatch(second.stdout, new RegExp(password), "the password is not in the engine's output");
    });
});
