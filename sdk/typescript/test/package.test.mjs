// `npm pack` ships types and both module formats, and each format loads.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

test("npm pack holds ESM, CommonJS and their type declarations, and nothing of the sources or tests", () => {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const out = execFileSync(npm, ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" });
  const [pack] = JSON.parse(out);
  const files = new Set(pack.files.map((f) => f.path));
  for (const path of ["package.json", "README.md", "dist/esm/index.js", "dist/esm/index.d.ts", "dist/cjs/index.js",
    "dist/cjs/index.d.ts", "dist/cjs/package.json"]) {
    assert.ok(files.has(path), `${path} is packed`);
  }
  assert.ok(![...files].some((f) => f.startsWith("src/") || f.startsWith("test/") || f.includes("node_modules")));
  assert.equal(pack.name, "@revos/sdk");
});

test("the package loads with require() and import(), and declares no runtime dependency", async () => {
  const require = createRequire(import.meta.url);
  const cjs = require("@revos/sdk");
  const esm = await import("@revos/sdk");
  for (const module of [cjs, esm]) {
    assert.equal(typeof module.Revos, "function");
    assert.equal(typeof module.checkEvent, "function");
  }
  const manifest = require("../package.json");
  assert.equal(manifest.dependencies, undefined);
});
