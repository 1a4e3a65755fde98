import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { build, type Plugin } from 'esbuild';

/** The packages whose main entry must bundle for the browser: core and every method package. */
export const BROWSER_PACKAGES = [
  '@edge-compress/core',
  '@edge-compress/quantize',
  '@edge-compress/admm-prune',
  '@edge-compress/bcr-prune',
  '@edge-compress/svd-train',
  '@edge-compress/smartdeal-decompose',
] as const;

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Fails the build on any import of a Node built-in from edge-compress's own code (third-party packages map theirs
 * away through their `browser` fields, and esbuild fails on any they do not). The error names the importing file.
 */
export function noNodeBuiltins(root: string): Plugin {
  return {
    name: 'no-node-builtins',
    setup(b) {
      b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
        if (!builtins.has(args.path)) return undefined;
        const ours = !args.importer.includes('/node_modules/');
        if (!ours) return undefined;
        return { errors: [{ text: `'${args.path}' (a Node built-in) is imported by ${relative(root, args.importer)}, which a browser bundle of this entry reaches` }] };
      });
    },
  };
}

export const REPO_ROOT = join(dirname(createRequire(import.meta.url).resolve('@edge-compress/core/package.json')), '..', '..');

/** Bundles `contents` (an ES module importing public package entries) for the browser; returns the code and its size. */
export async function bundleForBrowser(contents: string, opts: { minify?: boolean } = {}): Promise<{ code: string; bytes: number }> {
  const r = await build({
    stdin: { contents, resolveDir: REPO_ROOT, sourcefile: 'entry.js', loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: opts.minify ?? false,
    write: false,
    logLevel: 'silent',
    plugins: [noNodeBuiltins(REPO_ROOT)],
  });
  const code = r.outputFiles[0]!.text;
  return { code, bytes: r.outputFiles[0]!.contents.byteLength };
}
