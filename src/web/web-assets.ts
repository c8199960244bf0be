import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where `npm run build:web` writes the page (esbuild output, git-ignored). */
export const WEB_BUILD_DIR = 'dist-web';

/**
 * The build directory, found from here upwards: this file runs from src/web
 * (ts-jest) and from dist/src/web (nest build), and the page is built at the root.
 */
export function findWebBuild(from: string = __dirname): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, WEB_BUILD_DIR);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
