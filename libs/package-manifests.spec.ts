import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..');

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Manifest;
const rootManifest = read(join(ROOT, 'package.json'));
const PACKAGES = ['realtime-protocol', 'realtime', 'realtime-client'].map((folder) => ({
  folder,
  manifest: read(join(__dirname, folder, 'package.json')),
}));
const OURS = new Set(PACKAGES.map(({ manifest }) => manifest.name));
/** Declared though no file imports them, and why. */
const LOADED_BY_OTHERS: Record<string, string> = {
  'class-transformer': "@nestjs/common's ValidationPipe loads it for the gateway's DTOs",
};

/** Every source file a package ships (tests excluded, as its build excludes them). */
function shippedSources(folder: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('spec.ts')) files.push(path);
    }
  };
  walk(join(__dirname, folder, 'src'));
  return files;
}

/** The packages a file imports (values or types): `@scope/name` or `name`, subpaths dropped. */
function importedPackages(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const specifiers = [...source.matchAll(/\bfrom '([^'.][^']*)'/g)].map((match) => match[1]);
  return specifiers
    .filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))
    .map((specifier) =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/'),
    );
}

/**
 * Each package's manifest declares what its code imports, no more, and in
 * the ranges this repository installs and tests: the packed-tarball e2e
 * proves the packages install; this says why each entry is there.
 */
describe.each(PACKAGES)('$manifest.name manifest', ({ folder, manifest }) => {
  const declared = { ...manifest.dependencies, ...manifest.peerDependencies };

  it('declares every package its code imports (types through @types/…)', () => {
    const missing = shippedSources(folder).flatMap((file) =>
      importedPackages(file)
        .filter((name) => !(name in declared) && !(`@types/${name}` in declared))
        .map((name) => `${relative(ROOT, file)} imports ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it('declares nothing its code does not import', () => {
    const imported = new Set(shippedSources(folder).flatMap(importedPackages));
    const unused = Object.keys(declared).filter(
      (name) =>
        !imported.has(name) &&
        !imported.has(name.replace(/^@types\//, '')) &&
        !(name in LOADED_BY_OTHERS),
    );
    expect(unused).toEqual([]);
  });

  it('asks for the ranges this repository installs, and its sibling packages at their version', () => {
    const repository = { ...rootManifest.dependencies, ...rootManifest.devDependencies };
    for (const [name, range] of Object.entries(declared)) {
      if (OURS.has(name)) {
        expect(`${name}@${range}`).toBe(`${name}@${manifest.version}`);
      } else {
        expect(`${name}@${range}`).toBe(`${name}@${repository[name]}`);
      }
    }
  });
});
