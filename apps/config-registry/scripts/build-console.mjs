// Builds the web console (Preact, bundled by esbuild) into dist/console, which the
// registry serves at /console. Part of the registry's `build`.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const app = join(import.meta.dirname, '..');
const source = join(app, 'src', 'console', 'ui');
const out = join(app, 'dist', 'console');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(source, 'main.tsx') },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: out,
  logLevel: 'warning',
});
copyFileSync(join(source, 'styles.css'), join(out, 'app.css'));
copyFileSync(join(source, 'index.html'), join(out, 'index.html'));
