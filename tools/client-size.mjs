// Bundles libs/realtime-client the way an app would (esbuild, minified, ESM) and
// prints its size minified and minified+gzipped: the figure in docs/client.md.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';

const result = await build({
  entryPoints: ['libs/realtime-client/src/index.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  tsconfig: 'tsconfig.json',
  write: false,
  metafile: true,
});
const code = result.outputFiles[0].contents;
const inputs = Object.keys(result.metafile.inputs);
console.log(
  `realtime-client: ${code.length} B minified, ${gzipSync(code, { level: 9 }).length} B minified+gzipped`,
);
console.log(`from ${inputs.length} files:\n  ${inputs.join('\n  ')}`);
