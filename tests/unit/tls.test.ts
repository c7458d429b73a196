// components/tls.ts on Pulumi's mocks: the resources it declares (types, names, parents, inputs,
// options), that keys stay secret everywhere the engine would store or log them, and each
// validation message.

import * as assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { CertificateAuthority, CertificateAuthorityArgs, checkArgs, subjectAltName } from "../../components/tls";

// Pulumi's wire markers for a secret value (sdk/nodejs/runtime/rpc.ts).
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const isSecretValue = (v: any) => typeof v === "object" && v !== null && v[SIG_KEY] === SECRET_SIG;

interface Declared {
    type: string;
    name: string;
    inputs: Record<string, any>;
    parent?: string;
    opts: pulumi.CustomResourceOptions;
}

const PEM = (what: string) => `-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`;

const ARGS: CertificateAuthorityArgs = {
    nodes: [
        { name: "alpha", addresses: ["10.231.1.11"] },
        { name: "beta", addresses: ["10.231.1.12", "db-beta.example.internal"] },
    ],
    validityDays: 30,
    image: "sha256:0123",
    dockerHost: "unix:///var/run/docker.sock",
    labels: { "pg-replication.stack": "dev" },
};

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));

async function declare(args: CertificateAuthorityArgs): Promise<{ declared: Declared[]; ca: CertificateAuthority }> {
    const inputs = new Map<string, Record<string, any>>();
    await pulumi.runtime.setMocks({
        newResource(a: pulumi.runtime.MockResourceArgs) {
            inputs.set(a.name, a.inputs);
            const state: Record<string, any> = { ...a.inputs };
            if (a.type === "command:local:Command") {
                state.stdout = a.name.endsWith("-ca") ? JSON.stringify({ caCert: PEM("CERTIFICATE"), caKey: PEM("PRIVATE KEY") })
                    : JSON.stringify({ cert: PEM("CERTIFICATE"), key: PEM("PRIVATE KEY") });
            }
            return { id: `${a.name}-id`, state };
        },
        call: (a: pulumi.runtime.MockCallArgs) => a.inputs,
    }, "pg-replication", "dev", false);
    const seen: Omit<Declared, "inputs">[] = [];
    let ca!: CertificateAuthority;
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            seen.push({ type: a.type, name: a.name, parent: (a.opts.parent as any)?.__name, opts: a.opts as pulumi.CustomResourceOptions });
            return undefined;
        });
        ca = new CertificateAuthority("certs", args);
        return {};
    });
    // Registrations finish after the program returns; every command's output resolves only after its own.
    await Promise.all(Object.values(ca.certificates).map((c) => value(c.key)));
    return { declared: seen.map((s) => ({ ...s, inputs: inputs.get(s.name) ?? {} })), ca };
}

describe("CertificateAuthority on mocks", () => {
    let declared: Declared[];
    let ca: CertificateAuthority;
    const byName = (name: string) => {
        const found = declared.find((d) => d.name === name);
        assert.ok(found, `no resource named ${name}; have ${declared.map((d) => d.name).join(", ")}`);
        return found;
    };

    before(async () => {
        ({ declared, ca } = await declare(ARGS));
    });

    test("one component, a CA command and one command per node, named from the component and parented to it", () => {
        assert.deepEqual(declared.map((d) => `${d.type} ${d.name} ${d.parent ?? "-"}`), [
            "pg-replication:index:CertificateAuthority certs -",
            "command:local:Command certs-ca certs",
            "command:local:Command certs-alpha certs",
            "command:local:Command certs-beta certs",
        ]);
    });

    test("every command's stdout and stderr are secret outputs, logged nowhere", () => {
        for (const name of ["certs-ca", "certs-alpha", "certs-beta"]) {
            const d = byName(name);
            assert.deepEqual(d.opts.additionalSecretOutputs, ["stdout", "stderr"], name);
            assert.equal(d.inputs.logging, "none", name);
        }
    });

    test("the CA key reaches a node's command on stdin as a secret, never in its environment or text", () => {
        const node = byName("certs-alpha");
        assert.ok(isSecretValue(node.inputs.stdin), "stdin is not a secret");
        assert.equal(node.inputs.stdin.value, PEM("CERTIFICATE") + PEM("PRIVATE KEY"));
        for (const d of declared.filter((x) => x.type === "command:local:Command")) {
            const clear = JSON.stringify({ env: d.inputs.environment, create: d.inputs.create, update: d.inputs.update });
            assert.doesNotMatch(clear, /PRIVATE KEY/, d.name);
        }
    });

    test("environment: engine, image, subject, SAN and validity; the openssl run is networkless, in a tmpfs, labelled", () => {
        const env = byName("certs-beta").inputs.environment;
        assert.equal(env.DOCKER_HOST, "unix:///var/run/docker.sock");
        assert.equal(env.IMAGE, "sha256:0123");
        assert.equal(env.CN, "beta");
        assert.equal(env.SAN, "DNS:beta,IP:10.231.1.12,DNS:10.231.1.12,DNS:db-beta.example.internal");
        assert.equal(env.DAYS, "30");
        assert.match(env.TLS_SCRIPT, /openssl x509 -req/);
        assert.equal(byName("certs-ca").inputs.environment.CN, "certs CA");
        const create: string = byName("certs-ca").inputs.create;
        assert.match(create, /^exec docker run --rm -i --network none --tmpfs \/tls:mode=0700 --label pg-replication\.stack=dev /);
        assert.match(create, /-e CN -e DAYS -e SAN -e TLS_SCRIPT "\$IMAGE" sh -c 'eval "\$TLS_SCRIPT"'$/);
    });

    test("updates keep what was made; a node's certificate is made anew only when its SAN or the CA changes", () => {
        for (const name of ["certs-ca", "certs-alpha"]) {
            assert.match(byName(name).inputs.update, /printf %s "\$PULUMI_COMMAND_STDOUT"$/, name);
        }
        assert.equal(byName("certs-ca").inputs.triggers, undefined);
        const triggers = byName("certs-alpha").inputs.triggers;
        assert.equal(triggers[0], "DNS:alpha,IP:10.231.1.11,DNS:10.231.1.11");
        assert.equal(triggers[1], PEM("CERTIFICATE"));
    });

    test("outputs: node certificates and keys are secrets, the CA certificate is public", async () => {
        assert.deepEqual(Object.keys(ca.certificates), ["alpha", "beta"]);
        for (const cert of Object.values(ca.certificates)) {
            assert.equal(await pulumi.isSecret(cert.cert), true);
            assert.equal(await pulumi.isSecret(cert.key), true);
        }
        assert.equal(await value(ca.certificates.beta.key), PEM("PRIVATE KEY"));
        assert.equal(await pulumi.isSecret(ca.caCert), false);
        assert.equal(await value(ca.caCert), PEM("CERTIFICATE"));
    });
});

describe("CertificateAuthority arguments", () => {
    test("subjectAltName: the name, then each address; an IP as IP and as DNS text (libpq before 15)", () => {
        assert.equal(subjectAltName({ name: "n1", addresses: ["192.168.1.5", "::1", "pg.example.org", "192.168.1.5"] }),
            "DNS:n1,IP:192.168.1.5,DNS:192.168.1.5,IP:::1,DNS:::1,DNS:pg.example.org");
    });

    test("every problem is named", () => {
        assert.deepEqual(checkArgs({ nodes: [] }), ["nodes is empty: there is nothing to certify"]);
        assert.deepEqual(checkArgs({
            nodes: [
                { name: "a", addresses: ["10.0.0.1,DNS:evil"] },
                { name: "a", addresses: [] },
                { name: "b.c", addresses: ["0x0a.1"] },
            ],
            validityDays: 0,
            labels: { "pg-replication.stack": "dev stack" },
        }), [
            'node a: address "10.0.0.1,DNS:evil" is not allowed: an IPv4 or IPv6 address or a DNS name',
            'node name "a" is used twice',
            "node a has no address: list the addresses clients and other nodes reach it at",
            'node name "b.c" is not allowed: letters, digits, "_" and "-", at most 63, starting and ending with a letter or digit',
            'node b.c: address "0x0a.1" is not allowed: an IPv4 or IPv6 address or a DNS name',
            "validityDays 0 is not allowed: a whole number of days from 1 to 36500",
            "label pg-replication.stack=dev stack is not allowed: letters, digits and . _ / - (values also : @)",
        ]);
    });

    test("bad arguments fail before anything is registered", async () => {
        let thrown: Error | undefined;
        const registered: string[] = [];
        await pulumi.runtime.setMocks({
            newResource(a: pulumi.runtime.MockResourceArgs) {
                registered.push(a.name);
                return { id: a.name, state: a.inputs };
            },
            call: (a: pulumi.runtime.MockCallArgs) => a.inputs,
        }, "pg-replication", "dev", false);
        await pulumi.runtime.runInPulumiStack(async () => {
            try {
                new CertificateAuthority("certs", { ...ARGS, validityDays: 1.5 });
            } catch (err) {
                thrown = err as Error;
            }
            return {};
        });
        assert.equal(thrown?.message, "CertificateAuthority certs: validityDays 1.5 is not allowed: a whole number of days from 1 to 36500");
        assert.deepEqual(registered.filter((n) => n.startsWith("certs")), []);
    });
});
