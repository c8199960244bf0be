import { build } from 'esbuild';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = join(__dirname, '..', '..', '..');
/** docs/client.md reports the measured size; this keeps it from creeping up unnoticed. */
const GZIP_BUDGET_BYTES = 6 * 1024;

/** The client as an app's bundler sees it: no runtime dependency but the wire package. */
describe('realtime-client bundle', () => {
  it('is dependency-free, takes only the wire package besides its own files, and stays small', async () => {
    const result = await build({
      entryPoints: [join(ROOT, 'libs/realtime-client/src/index.ts')],
      absWorkingDir: ROOT,
      bundle: true,
      minify: true,
      format: 'esm',
      target: 'es2020',
      tsconfig: join(ROOT, 'tsconfig.json'),
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const [output] = Object.values(result.metafile.outputs);
    expect(output.imports).toEqual([]);
    for (const input of Object.keys(result.metafile.inputs)) {
      expect(input).toMatch(/^libs\/(realtime-client|realtime-protocol)\/src\/[\w.-]+\.ts$/);
    }
    expect(gzipSync(result.outputFiles[0].contents, { level: 9 }).length).toBeLessThan(
      GZIP_BUDGET_BYTES,
    );
  });
});
