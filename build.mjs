// Bundles edgeraft with esbuild for each runtime and emits type declarations with tsc.
// The build fails when src/core or the browser bundle pulls in a Node built-in: those bundles
// must run unchanged in browsers and Deno. Browser bundles carry both replication modes: a
// follower-reader runs the mode of the cluster it follows (ParallelRaft adds ~6 KiB gzipped).
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const quiet = process.argv.includes('--quiet');
const log = (...a) => { if (!quiet) console.log(...a); };
const nodeBuiltins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const external = ['ws', 'cbor-x', 'idb-keyval', '@node-rs/crc32', 'jose', 'prom-client'];

/** Each bundle: where from, where to, for which platform, and whether Node built-ins are banned. */
const bundles = [
  { entry: 'src/core/index.ts', out: 'dist/core/index.js', platform: 'neutral', pure: true },
  { entry: 'src/runtime-node/index.ts', out: 'dist/node/index.js', platform: 'node', pure: false },
  { entry: 'src/runtime-node/cli.ts', out: 'dist/node/cli.js', platform: 'node', pure: false, banner: '#!/usr/bin/env node' },
  { entry: 'src/client/node.ts', out: 'dist/node/client.js', platform: 'node', pure: false },
  { entry: 'src/runtime-browser/index.ts', out: 'dist/browser/index.js', platform: 'browser', pure: true },
  { entry: 'src/client/browser.ts', out: 'dist/browser/client.js', platform: 'browser', pure: true },
  // The demo page of `npm start`: loaded straight by the browser, so nothing stays external.
  { entry: 'src/runtime-browser/demo/page.ts', out: 'dist/demo/page.js', platform: 'browser', pure: true, standalone: true },
  // The native Deno runtime (edgeraft/deno, and the runnable peer): everything bundled in, so
  // `deno run dist/deno/peer.js` needs no node_modules; `deno` bans Node-only packages too.
  { entry: 'src/runtime-deno/index.ts', out: 'dist/deno/index.js', platform: 'browser', pure: true, standalone: true, deno: true },
  { entry: 'src/runtime-deno/main.ts', out: 'dist/deno/peer.js', platform: 'browser', pure: true, standalone: true, deno: true },
];
/** Packages that need Node (or a native addon): a `deno` bundle must not contain any of them. */
const nodeOnlyPackages = ['ws', '@node-rs/crc32', 'prom-client', 'cbor-extract'];
/** Files of the demo page copied as they are, next to its bundle. */
const demoAssets = ['index.html', 'style.css'];

const guards = {
  'node-in-browser.js': "edgeraft/node runs only in Node.js: in browsers import 'edgeraft/browser' or 'edgeraft/client'.",
  'node-elsewhere.js': "edgeraft/node needs Node.js (the 'node' export condition): in Deno or browsers import 'edgeraft/browser' or 'edgeraft/client'.",
  'browser-in-node.js': "edgeraft/browser is for browsers and Deno: in Node.js import 'edgeraft/node' or 'edgeraft/client'.",
};

async function main() {
  rmSync('dist', { recursive: true, force: true });
  const problems = [];
  for (const b of bundles) {
    if (!existsSync(b.entry)) { problems.push(`missing entry ${b.entry}`); continue; }
    const result = await build({
      entryPoints: [b.entry],
      outfile: b.out,
      bundle: true,
      format: 'esm',
      platform: b.platform,
      target: 'es2022',
      mainFields: b.platform === 'browser' ? ['browser', 'module', 'main'] : ['module', 'main'],
      external: b.standalone ? [] : b.platform === 'node' ? external : [...external.filter((e) => e !== 'ws' && e !== '@node-rs/crc32')],
      metafile: true,
      sourcemap: true,
      logLevel: 'silent',
      ...(b.banner ? { banner: { js: b.banner } } : {}),
    }).catch((err) => { problems.push(`${b.entry}: ${err.message}`); return null; });
    if (result === null) continue;
    if (b.pure) {
      for (const [file, input] of Object.entries(result.metafile.inputs)) {
        for (const imp of input.imports) {
          if (nodeBuiltins.has(imp.path) || imp.path.startsWith('node:')) {
            problems.push(`${b.out} must not use Node built-ins, but ${file} imports '${imp.path}'`);
          }
          if (imp.path === 'ws' || imp.path === '@node-rs/crc32') {
            problems.push(`${b.out} must not use Node-only package '${imp.path}' (imported by ${file})`);
          }
        }
      }
    }
    if (b.deno) {
      for (const file of Object.keys(result.metafile.inputs)) {
        const pkg = nodeOnlyPackages.find((p) => file.includes(`node_modules/${p}/`) || file === p);
        if (pkg !== undefined) problems.push(`${b.out} must run on Deno without Node, but bundles Node-only package '${pkg}' (${file})`);
        if (file.endsWith('.node')) problems.push(`${b.out} must not bundle a native addon (${file})`);
      }
    }
    log(`built ${b.out} (${b.platform})`);
  }
  mkdirSync('dist/demo', { recursive: true });
  for (const file of demoAssets) {
    const from = join('src/runtime-browser/demo', file);
    if (existsSync(from)) copyFileSync(from, join('dist/demo', file));
    else problems.push(`missing demo file ${from}`);
  }
  mkdirSync('dist/guards', { recursive: true });
  for (const [file, message] of Object.entries(guards)) {
    writeFileSync(`dist/guards/${file}`, `throw new Error(${JSON.stringify(message)});\n`);
  }
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  if (tsc.status !== 0) problems.push(`type declarations failed:\n${tsc.stdout}${tsc.stderr}`);
  else {
    // Sources import './x.ts' (run directly by tsx and Deno); published declarations must say '.js'.
    rewriteDeclarationImports('dist/types');
    log('built dist/types (declarations)');
  }
  if (problems.length > 0) {
    console.error(`build failed:\n- ${problems.join('\n- ')}`);
    process.exit(1);
  }
  await reportSizes();
}

/** What a web app imports: the browser bundles, as built and as a web app would ship them. */
const sizedBundles = [
  { name: 'edgeraft/browser', entry: 'src/runtime-browser/index.ts', out: 'dist/browser/index.js' },
  { name: 'edgeraft/client (browser)', entry: 'src/client/browser.ts', out: 'dist/browser/client.js' },
  // A page that uses only the follower-reader: what tree-shaking leaves of edgeraft/browser.
  { name: 'joinAsFollower alone', code: "export { joinAsFollower } from './src/runtime-browser/index.ts';", out: null },
];

/**
 * Prints each browser bundle's size: as built (dependencies external), minified, and minified +
 * gzipped; then minified + gzipped with its dependencies bundled in (what a page downloads), and
 * what dominates that (esbuild's metafile). --quiet prints one summary line.
 */
async function reportSizes() {
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const summary = [];
  for (const b of sizedBundles) {
    const source = b.code !== undefined ? { stdin: { contents: b.code, resolveDir: process.cwd(), sourcefile: 'size-entry.js', loader: 'js' } } : { entryPoints: [b.entry] };
    const common = { ...source, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent', minify: true };
    const min = await build({ ...common, external: external.filter((e) => e !== 'ws' && e !== '@node-rs/crc32') });
    const all = await build({ ...common, metafile: true });
    const minText = min.outputFiles[0].contents;
    const allText = all.outputFiles[0].contents;
    const sizes = {
      bytes: b.out !== null ? readFileSync(b.out).byteLength : null, min: minText.byteLength, gzip: gzipSync(minText).byteLength,
      allMin: allText.byteLength, allGzip: gzipSync(allText).byteLength,
    };
    summary.push(`${b.name} ${kib(sizes.allGzip)} gzipped`);
    log(`size of ${b.name}${b.out !== null ? ` (${b.out}: ${sizes.bytes} bytes)` : ''}: ${sizes.min} minified, ${sizes.gzip} gzipped (cbor-x and idb-keyval external); ` +
      `with them bundled: ${sizes.allMin} minified, ${sizes.allGzip} gzipped`);
    const output = Object.values(all.metafile.outputs)[0];
    const byPart = new Map();
    for (const [file, input] of Object.entries(output.inputs)) {
      const at = file.lastIndexOf('node_modules/');
      const rest = at >= 0 ? file.slice(at + 'node_modules/'.length).split('/') : null;
      const part = rest !== null ? rest.slice(0, rest[0].startsWith('@') ? 2 : 1).join('/') : file.split('/').slice(0, 2).join('/');
      byPart.set(part, (byPart.get(part) ?? 0) + input.bytesInOutput);
    }
    const top = [...byPart].sort((a, b) => b[1] - a[1]).slice(0, 6);
    log(`  largest parts (minified): ${top.map(([part, n]) => `${part} ${kib(n)}`).join(', ')}`);
  }
  if (quiet) console.log(`bundle sizes (minified + gzipped, with dependencies): ${summary.join(', ')}`);
}

function rewriteDeclarationImports(dir) {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, d.name);
    if (d.isDirectory()) rewriteDeclarationImports(path);
    else if (path.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8');
      writeFileSync(path, text.replace(/(from\s+['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2').replace(/(import\(['"]\.{1,2}\/[^'"]*?)\.ts(['"]\))/g, '$1.js$2'));
    }
  }
}

await main();
