import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { parse as parseToml } from "smol-toml";
import { ConfigError } from "../src/kernel/errors.ts";
import {
  configSchema,
  loadConfig,
  parseConfig,
  resolveHome,
  schemaKeyPaths,
} from "../src/config/mod.ts";

const EXAMPLE = new URL("../config.example.toml", import.meta.url);

/** An env reader over a fixed map, so tests never touch the real environment. */
function envOf(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

/** The ConfigError thrown by `fn`, failing the test if it throws anything else or nothing. */
function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.ok(!err.message.includes("    at "), "no stack trace in the message");
    return err;
  }
  assert.fail("expected a ConfigError");
}

async function configErrorOfAsync(fn: () => Promise<unknown>): Promise<ConfigError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

/** The example with every commented-out setting and table header switched on. */
function uncommented(text: string): string {
  return text.split("\n").map((line) => {
    const m = line.match(/^#\s?(\[[A-Za-z0-9_.-]+\]|[a-z_]+\s*=\s*\S.*)$/);
    return m ? m[1] : line;
  }).join("\n");
}

/** Whether `raw` has the dotted schema path; `*` matches any key of a record. */
function hasPath(raw: unknown, segments: string[]): boolean {
  if (segments.length === 0) return raw !== undefined;
  if (typeof raw !== "object" || raw === null) return false;
  const [head, ...rest] = segments;
  const table = raw as Record<string, unknown>;
  if (head === "*") return Object.values(table).some((child) => hasPath(child, rest));
  return Object.hasOwn(table, head) && hasPath(table[head], rest);
}

/** Every leaf value of a plain object, by dotted path. */
function leaves(value: unknown, prefix = ""): [string, unknown][] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [[prefix, value]];
  }
  return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

Deno.test("parseConfig fills defaults from the schema", async (t) => {
  await t.step("empty text gives the defaults", () => {
    const { config, warnings } = parseConfig("", "/x/config.toml");
    assert.equal(config.gateway.port, 18789);
    assert.equal(config.gateway.bind, "127.0.0.1");
    assert.equal(config.gateway.auth.rate_limit.max_attempts, 10);
    assert.equal(config.agent.model, undefined);
    assert.deepEqual(config.providers, {});
    assert.deepEqual(warnings, []);
  });

  await t.step("a set value overrides only its own default", () => {
    const { config } = parseConfig("[gateway]\nport = 9000\n", "/x/config.toml");
    assert.equal(config.gateway.port, 9000);
    assert.equal(config.gateway.tick_interval_ms, 30_000);
  });
});

Deno.test("parseConfig reports TOML syntax errors with line and column", () => {
  const err = configErrorOf(() => parseConfig("[gateway]\nport = = 1\n", "/x/config.toml"));
  assert.match(err.message, /line 2, column \d+: .+: fix the TOML syntax there/);
  assert.equal(err.file, "/x/config.toml");
  assert.equal(err.problems.length, 1);
  assert.ok(!err.problems[0].includes("\n"), "only the first line of the parser's reason");
});

Deno.test("parseConfig names the key path and the bad value", async (t) => {
  await t.step("wrong type", () => {
    const err = configErrorOf(() => parseConfig('[gateway]\nport = "abc"\n', "f.toml"));
    assert.deepEqual(err.problems, ['gateway.port: expected a number, got "abc" (string)']);
  });

  await t.step("out of range", () => {
    const err = configErrorOf(() => parseConfig("[gateway]\nport = 70000\n", "f.toml"));
    assert.deepEqual(err.problems, ["gateway.port: 70000 is too large (at most 65535)"]);
  });

  await t.step("not one of the allowed values", () => {
    const err = configErrorOf(() => parseConfig('[session]\ndm_scope = "x"\n', "f.toml"));
    assert.deepEqual(err.problems, [
      'session.dm_scope: "x" is not one of "main", "per-peer", "per-channel-peer"',
    ]);
  });

  await t.step("every problem is listed, not just the first", () => {
    const err = configErrorOf(() =>
      parseConfig('[gateway]\nport = -1\n[log]\nlevel = "loud"\n', "f.toml")
    );
    assert.equal(err.problems.length, 2);
    assert.match(err.problems[0], /^gateway\.port: -1 is too small \(at least 0\)$/);
    assert.match(err.problems[1], /^log\.level: "loud" is not one of/);
  });

  await t.step("a schema's own message is kept after the value", () => {
    const err = configErrorOf(() => parseConfig('[agent]\nmodel = "gpt-4"\n', "f.toml"));
    assert.deepEqual(err.problems, [
      'agent.model: "gpt-4" must be "<provider>/<model>", for example "openai/gpt-4.1-mini"',
    ]);
  });

  await t.step("a missing required key says what to set", () => {
    const err = configErrorOf(() => parseConfig("[providers.local]\n", "f.toml"));
    assert.deepEqual(err.problems, [
      'providers.local.kind: missing: set it to one of "openai", "anthropic"',
    ]);
  });
});

Deno.test("agent.model naming an unconfigured provider says which table to add", () => {
  const err = configErrorOf(() =>
    parseConfig(
      '[agent]\nmodel = "openai/gpt-4.1-mini"\n[providers.local]\nkind = "openai"\n',
      "f.toml",
    )
  );
  assert.equal(err.problems.length, 1);
  assert.match(err.problems[0], /^agent\.model: names provider "openai"/);
  assert.match(err.problems[0], /add a \[providers\.openai\] section or use one of: local/);
});

Deno.test("unknown keys are warnings, not errors", async (t) => {
  await t.step("a typo gets a did-you-mean and the config still loads", () => {
    const { config, warnings } = parseConfig("[gateway]\nprot = 9000\n", "f.toml");
    assert.equal(config.gateway.port, 18789);
    assert.deepEqual(warnings, ["unknown key gateway.prot (did you mean gateway.port?)"]);
  });

  await t.step("a key far from any known one lists the known keys", () => {
    const { warnings } = parseConfig("[session]\nzzzzzz = 1\n", "f.toml");
    assert.deepEqual(warnings, ["unknown key session.zzzzzz (known keys here: dm_scope)"]);
  });

  await t.step("top-level keys of the refined schema are checked", () => {
    const { warnings } = parseConfig("[gatway]\nport = 1\n", "f.toml");
    assert.deepEqual(warnings, ["unknown key gatway (did you mean gateway?)"]);
  });

  await t.step("keys inside a provider table are checked", () => {
    const { config, warnings } = parseConfig(
      '[providers.local]\nkind = "openai"\nbase_ulr = "http://127.0.0.1:11434/v1"\n',
      "f.toml",
    );
    assert.equal(config.providers.local.kind, "openai");
    assert.deepEqual(warnings, [
      "unknown key providers.local.base_ulr (did you mean providers.local.base_url?)",
    ]);
  });

  await t.step("deeply nested tables are checked", () => {
    const { warnings } = parseConfig("[gateway.auth.rate_limit]\nmax_attempt = 3\n", "f.toml");
    assert.deepEqual(warnings, [
      "unknown key gateway.auth.rate_limit.max_attempt " +
      "(did you mean gateway.auth.rate_limit.max_attempts?)",
    ]);
  });

  await t.step("a key missing its unit suffix is matched by prefix", () => {
    const { warnings } = parseConfig("[agent]\ntimeout = 30\n", "f.toml");
    assert.deepEqual(warnings, ["unknown key agent.timeout (did you mean agent.timeout_seconds?)"]);
  });

  await t.step("a misspelt table is shown next to the error it causes", () => {
    const err = configErrorOf(() =>
      parseConfig(
        '[provider.openai]\nkind = "openai"\n[agent]\nmodel = "openai/gpt-4.1-mini"\n',
        "f.toml",
      )
    );
    assert.equal(err.problems.length, 2);
    assert.equal(err.problems[1], "unknown key provider (did you mean providers?)");
  });
});

Deno.test("values that look like API keys are warned about and never echoed", async (t) => {
  const secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";

  await t.step("a secret in a valid value is a warning", () => {
    const { warnings } = parseConfig(
      `[providers.openai]\nkind = "openai"\nbase_url = "https://api.example.com/v1?key=${secret}"\n`,
      "f.toml",
    );
    assert.deepEqual(warnings, [
      "providers.openai.base_url looks like it contains a secret; " +
      "reference secrets by env var name (api_key_env)",
    ]);
  });

  await t.step("a secret in an invalid value is redacted from the error", () => {
    const err = configErrorOf(() =>
      parseConfig(`[providers.openai]\nkind = "openai"\napi_key_env = "${secret}"\n`, "f.toml")
    );
    assert.match(err.message, /providers\.openai\.api_key_env: .*\(redacted\) must be/);
    assert.ok(!err.message.includes(secret));
  });
});

Deno.test("config.example.toml documents the whole schema", async (t) => {
  const text = await Deno.readTextFile(EXAMPLE);

  await t.step("it parses with no errors and no warnings", () => {
    const { config, warnings } = parseConfig(text, EXAMPLE.pathname);
    assert.deepEqual(warnings, []);
    assert.equal(config.providers.openai.api_key_env, "OPENAI_API_KEY");
  });

  const full = uncommented(text);

  await t.step("with every commented key switched on it is still valid", () => {
    const { config, warnings } = parseConfig(full, EXAMPLE.pathname);
    assert.deepEqual(warnings, []);
    assert.equal(config.agent.model, "openai/gpt-4.1-mini");
  });

  await t.step("every leaf key of the schema appears in it", () => {
    const paths = schemaKeyPaths(configSchema);
    assert.ok(paths.includes("gateway.port") && paths.includes("providers.*.kind"));
    const raw = parseToml(full);
    const missing = paths.filter((p) => !hasPath(raw, p.split(".")));
    assert.deepEqual(missing, [], "add these keys to config.example.toml");
  });

  await t.step("the values it shows are the schema's defaults", () => {
    const defaults = configSchema.parse({});
    const shown = parseConfig(full, EXAMPLE.pathname).config;
    for (const [path, value] of leaves(defaults)) {
      const got = path.split(".").reduce<unknown>(
        (v, k) => (v as Record<string, unknown>)[k],
        shown,
      );
      assert.deepEqual(got, value, `${path} in config.example.toml`);
    }
  });
});

Deno.test("resolveHome", async (t) => {
  await t.step("GATEHOUSE_HOME wins", () => {
    assert.equal(resolveHome(envOf({ GATEHOUSE_HOME: "/srv/gh", HOME: "/home/a" })), "/srv/gh");
  });

  await t.step("else ~/.gatehouse", () => {
    assert.equal(resolveHome(envOf({ HOME: "/home/a" })), join("/home/a", ".gatehouse"));
  });

  await t.step("neither set asks for GATEHOUSE_HOME", () => {
    const err = configErrorOf(() => resolveHome(envOf({})));
    assert.match(err.message, /set GATEHOUSE_HOME/);
  });

  await t.step("a missing --allow-env names the flag", () => {
    const err = configErrorOf(() =>
      resolveHome(() => {
        throw new Deno.errors.NotCapable("Requires env access");
      })
    );
    assert.match(
      err.message,
      /cannot read env GATEHOUSE_HOME: run with --allow-env=.*GATEHOUSE_HOME/,
    );
    assert.match(err.message, /gatehouse permissions/);
  });
});

Deno.test("loadConfig finds the file and resolves paths", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "gatehouse_config_test_" });
  try {
    await t.step("no file starts on defaults with paths under the home", async () => {
      const loaded = await loadConfig({ env: envOf({ GATEHOUSE_HOME: home }) });
      assert.equal(loaded.found, false);
      assert.equal(loaded.home, home);
      assert.equal(loaded.path, join(home, "config.toml"));
      assert.equal(loaded.config.gateway.port, 18789);
      assert.equal(loaded.storePath, join(home, "gatehouse.kv.sqlite"));
      assert.equal(loaded.tokenPath, join(home, "token"));
      assert.deepEqual(loaded.warnings, []);
    });

    await t.step("HOME without GATEHOUSE_HOME uses <HOME>/.gatehouse", async () => {
      const loaded = await loadConfig({ env: envOf({ HOME: home }) });
      assert.equal(loaded.home, join(home, ".gatehouse"));
      assert.equal(loaded.path, join(home, ".gatehouse", "config.toml"));
    });

    await t.step(
      "the home's config.toml is read, relative store.path against the home",
      async () => {
        await Deno.writeTextFile(
          join(home, "config.toml"),
          '[store]\npath = "data/kv.sqlite"\n[gateway]\nprot = 1\n',
        );
        const loaded = await loadConfig({ env: envOf({ GATEHOUSE_HOME: home }) });
        assert.equal(loaded.found, true);
        assert.equal(loaded.storePath, join(home, "data", "kv.sqlite"));
        assert.deepEqual(loaded.warnings, [
          "unknown key gateway.prot (did you mean gateway.port?)",
        ]);
        await Deno.remove(join(home, "config.toml"));
      },
    );

    await t.step(":memory: and KV Connect URLs pass through", async () => {
      for (const store of [":memory:", "https://api.deno.com/databases/x/connect"]) {
        const file = join(home, "store.toml");
        await Deno.writeTextFile(file, `[store]\npath = "${store}"\n`);
        const loaded = await loadConfig({ path: file, env: envOf({ GATEHOUSE_HOME: home }) });
        assert.equal(loaded.storePath, store);
        await Deno.remove(file);
      }
    });

    await t.step("GATEHOUSE_CONFIG is used when --config is not given", async () => {
      const file = join(home, "other.toml");
      await Deno.writeTextFile(file, "[gateway]\nport = 1234\n");
      const loaded = await loadConfig({
        env: envOf({ GATEHOUSE_HOME: home, GATEHOUSE_CONFIG: file }),
      });
      assert.equal(loaded.path, file);
      assert.equal(loaded.config.gateway.port, 1234);
      const overridden = await loadConfig({
        path: join(home, "missing.toml"),
        env: envOf({ GATEHOUSE_HOME: home, GATEHOUSE_CONFIG: file }),
      }).catch((err) => err);
      assert.ok(overridden instanceof ConfigError, "--config wins over GATEHOUSE_CONFIG");
      await Deno.remove(file);
    });

    await t.step("a relative --config resolves against the working directory", async () => {
      const file = join(home, "rel.toml");
      await Deno.writeTextFile(file, "[gateway]\nport = 4321\n");
      const loaded = await loadConfig({
        path: relative(Deno.cwd(), file),
        env: envOf({ GATEHOUSE_HOME: home }),
      });
      assert.equal(loaded.path, file);
      assert.equal(loaded.config.gateway.port, 4321);
      await Deno.remove(file);
    });

    await t.step("an explicit path that does not exist is an error", async () => {
      const missing = join(home, "nope.toml");
      const err = await configErrorOfAsync(() =>
        loadConfig({ path: missing, env: envOf({ GATEHOUSE_HOME: home }) })
      );
      assert.equal(
        err.message,
        `config: config file ${missing} not found: check --config or create it from config.example.toml`,
      );
      const fromEnv = await configErrorOfAsync(() =>
        loadConfig({ env: envOf({ GATEHOUSE_HOME: home, GATEHOUSE_CONFIG: missing }) })
      );
      assert.match(fromEnv.message, /check GATEHOUSE_CONFIG/);
    });

    await t.step("an invalid file's error names the file", async () => {
      const file = join(home, "bad.toml");
      await Deno.writeTextFile(file, "[gateway]\nport = 70000\n");
      const err = await configErrorOfAsync(() =>
        loadConfig({ path: file, env: envOf({ GATEHOUSE_HOME: home }) })
      );
      assert.equal(err.file, file);
      assert.match(err.message, /gateway\.port: 70000 is too large/);
      await Deno.remove(file);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
