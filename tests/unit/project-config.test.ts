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
