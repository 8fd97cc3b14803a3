/**
 * @module
 * The config: the zod schema (home of every default) and the loader that finds, parses and
 * validates `config.toml`.
 */
export { type Config, configSchema, type ProviderConfig } from "./schema.ts";
export { loadConfig, type LoadConfigOptions, type LoadedConfig, parseConfig } from "./load.ts";
export { CONFIG_ENV_VARS, type EnvReader, resolveHome, safeEnv } from "./home.ts";
export { schemaKeyPaths } from "./unknown_keys.ts";
export { changedKeys, keyUnder } from "./diff.ts";
