// The compiled copy of the program that pulumi-entry.js runs (plain JavaScript: it runs before any
// TypeScript can). One copy per version of the sources, in node_modules/.cache/pg-replication/
// program/<digest>: every file the program is made of (index.ts, tsconfig.json, everything under
// components/, and this file) goes into the digest, so an edit makes a new copy and a copy of
// other sources is never run. Each .ts is transpiled as ts-node's transpile-only mode does it
// (TypeScript's transpileModule with tsconfig.json's compiler options; the type check stays with
// `npm run build` and `npm test`); beside it the .ts itself and the scripts, so what the program
// reads next to its modules (components/scripts, the topology step's code digest) reads the same.
// A copy is written to a staging folder and renamed into place whole, so two `pulumi up` at once
// or one killed half way never leave a partial copy where a later run would take it.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

/** Copies older than this (by their folder's time) are removed when a new one is made. */
const KEEP_MS = 7 * 24 * 3600 * 1000;

/** The project files the program is made of, relative to ROOT, in a fixed order. */
function programFiles(root) {
    const found = ["index.ts", "tsconfig.json", path.join("scripts", "program-cache.js")];
    const walk = (dir) => {
        const entries = fs.readdirSync(path.join(root, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
        for (const e of entries) {
            const rel = path.join(dir, e.name);
            if (e.isDirectory()) {
                walk(rel);
            } else if (e.isFile()) {
                found.push(rel);
            }
        }
    };
    walk("components");
    return found;
}

/** sha-256 of the files' names and contents (20 hex digits). */
function digestOf(root, files) {
    const hash = crypto.createHash("sha256");
    for (const f of files) {
        hash.update(`${f}\0`);
        hash.update(fs.readFileSync(path.join(root, f)));
        hash.update("\0");
    }
    return hash.digest("hex").slice(0, 20);
}

/** Writes the copy of ROOT's FILES into DIR (through a staging folder renamed into place). */
function build(root, files, dir) {
    const ts = require("typescript");
    const read = ts.readConfigFile(path.join(root, "tsconfig.json"), ts.sys.readFile);
    if (read.error) {
        throw new Error(`tsconfig.json: ${ts.flattenDiagnosticMessageText(read.error.messageText, "\n")}`);
    }
    const { options, errors } = ts.convertCompilerOptionsFromJson(read.config.compilerOptions ?? {}, root);
    if (errors.length > 0) {
        throw new Error(`tsconfig.json: ${errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, "\n")).join("; ")}`);
    }
    // Per file, as ts-node's transpile-only mode: no project layout (outDir, rootDir), no
    // declarations, and no source maps (nothing here would read them: ts-node's hook is what this
    // copy avoids).
    const { outDir: _outDir, rootDir: _rootDir, ...perFile } = options;
    const compilerOptions = { ...perFile, sourceMap: false, inlineSourceMap: false, declaration: false };
    const staging = `${dir}.${process.pid}.staging`;
    fs.rmSync(staging, { recursive: true, force: true });
    try {
        writeCopy(root, files, staging, ts, compilerOptions);
    } catch (err) {
        fs.rmSync(staging, { recursive: true, force: true });
        throw err;
    }
    try {
        fs.renameSync(staging, dir);
    } catch (err) {
        // Another run put the same copy in place first: theirs is as good as ours.
        fs.rmSync(staging, { recursive: true, force: true });
        if (!fs.existsSync(path.join(dir, "index.js"))) {
            throw err;
        }
    }
}

/** Each file copied into STAGING, and each .ts beside it transpiled. */
function writeCopy(root, files, staging, ts, compilerOptions) {
    for (const f of files) {
        const to = path.join(staging, f);
        fs.mkdirSync(path.dirname(to), { recursive: true });
        const text = fs.readFileSync(path.join(root, f), "utf8");
        fs.writeFileSync(to, text);
        if (f.endsWith(".ts") && !f.endsWith(".d.ts")) {
            const out = ts.transpileModule(text, { compilerOptions, fileName: path.join(root, f), reportDiagnostics: true });
            if (out.diagnostics && out.diagnostics.length > 0) {
                throw new Error(`${f}: ${out.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("; ")}`);
            }
            fs.writeFileSync(to.replace(/\.ts$/, ".js"), out.outputText);
        }
    }
}

/** Removes the copies in CACHE other than KEEP that are older than KEEP_MS (and staging left by a killed run). */
function prune(cache, keep) {
    for (const name of fs.readdirSync(cache)) {
        const p = path.join(cache, name);
        if (name !== keep && Date.now() - fs.statSync(p).mtimeMs > KEEP_MS) {
            fs.rmSync(p, { recursive: true, force: true });
        }
    }
}

/**
 * The compiled program's index.js for ROOT's sources as they are now, made when missing. CACHE:
 * where copies live (ROOT's node_modules/.cache/pg-replication/program by default, so the copy's
 * modules find ROOT's node_modules).
 */
function compiledEntry(root, cache = path.join(root, "node_modules", ".cache", "pg-replication", "program")) {
    const files = programFiles(root);
    const digest = digestOf(root, files);
    const dir = path.join(cache, digest);
    if (!fs.existsSync(path.join(dir, "index.js"))) {
        fs.mkdirSync(cache, { recursive: true });
        build(root, files, dir);
        prune(cache, digest);
    }
    return path.join(dir, "index.js");
}

module.exports = { compiledEntry, digestOf, programFiles };
