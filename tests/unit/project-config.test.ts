// Pulumi.yaml declares the typed keys the CLI checks before the program runs; their defaults
// must be the program's own, or a stack would get one default from the CLI and another from
// components/config.ts depending on how it is run (CLI or Automation API).

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import * as yaml from "js-yaml";
import { DEFAULTS, KNOWN_KEYS, validateConfig } from "../../components/config";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
    config: Record<string, { type: string; default: unknown }>;
};

test("every typed key in Pulumi.yaml is a known key whose default is the program's", () => {
    for (const [key, spec] of Object.entries(project.config)) {
        assert.ok((KNOWN_KEYS as readonly string[]).includes(key), `${key} is not a key of components/config.ts`);
        assert.equal(spec.default, (DEFAULTS as Record<string, unknown>)[key], `default of ${key}`);
        assert.equal(spec.type, typeof spec.default === "number" ? "integer" : "string", `type of ${key}`);
    }
});

test("the CLI's defaults, given as values, are accepted as they are by the program", () => {
    const given = Object.fromEntries(Object.entries(project.config).map(([k, v]) => [k, String(v.default)]));
    const cfg = validateConfig(given, { project: "pg-replication", stack: "dev" });
    assert.equal(cfg.image, DEFAULTS.image);
    assert.equal(cfg.replication.mode, "async");
});

// The stack files the repository ships (Pulumi.dev.yaml, the README's main job; Pulumi.pg17.yaml):
// each must work on a machine that has never run it. An `encryptionsalt` (or a `secure:` value)
// ties a stack file to the passphrase it was made with, and scripts/deploy.sh generates a passphrase
// per machine (~/.config/pg-replication/passphrase): with one committed, `scripts/deploy.sh dev` on a
// new machine stops at "incorrect passphrase" before anything is made (as 57ab57b's did until this test).
const STACK_FILES = fs.readdirSync(ROOT).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));

test("the shipped stack files are found: dev and pg17", () => {
    assert.deepEqual(STACK_FILES.sort(), ["Pulumi.dev.yaml", "Pulumi.pg17.yaml"]);
});

for (const file of STACK_FILES) {
    test(`${file}: tied to no passphrase, and valid as the program reads it`, () => {
        const text = fs.readFileSync(path.join(ROOT, file), "utf8");
        const stackFile = yaml.load(text) as { config: Record<string, unknown> } & Record<string, unknown>;
        assert.deepEqual(Object.keys(stackFile), ["config"], `${file} holds config only (no encryptionsalt, no secretsprovider)`);
        assert.doesNotMatch(text, /\bsecure:/, `${file} holds no encrypted value`);
        const raw = Object.fromEntries(Object.entries(stackFile.config).map(([key, value]) => {
            assert.match(key, /^pg-replication:/, `${file}: ${key} is one of the project's keys`);
            return [key.slice("pg-replication:".length), typeof value === "object" ? JSON.stringify(value) : String(value)];
        }));
        const stack = file.split(".")[1];
        assert.doesNotThrow(() => validateConfig(raw, { project: "pg-replication", stack }), `${file} validates`);
    });
}
