// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const lib = './libs/realtime/src';
const folders = [
  'protocol',
  'framing',
  'options',
  'topics',
  'registry',
  'engine',
  'delivery',
  'auth',
  'gateway',
  'health',
  'metrics',
  'testing',
  'redis',
  'jobs',
];
/** `Principal` is a type every layer below auth/ may name (docs/architecture.md). */
const principal = ['./principal.ts'];

/**
 * The layers of docs/architecture.md: each folder and what it must not import.
 * Arrows point down: gateway → auth | delivery → registry | topics → engine → framing → protocol.
 */
const layerRules = {
  protocol: { forbidden: folders.filter((f) => f !== 'protocol') },
  // Server frames built once, as bytes: below the engine, which keeps them in history.
  framing: { forbidden: folders.filter((f) => f !== 'framing' && f !== 'protocol') },
  engine: { forbidden: ['topics', 'registry', 'delivery', 'auth', 'gateway', 'health', 'testing'] },
  topics: {
    forbidden: ['registry', 'delivery', 'auth', 'gateway', 'health', 'metrics', 'testing'],
  },
  registry: {
    forbidden: ['topics', 'delivery', 'auth', 'gateway', 'health', 'metrics', 'testing'],
  },
  // The counters sit low (everything bumps them); the Prometheus service observes every layer.
  'metrics/realtime-counters.ts': {
    forbidden: ['topics', 'delivery', 'auth', 'gateway', 'health', 'testing'],
  },
  'metrics/realtime-metrics.service.ts': { forbidden: ['gateway', 'testing'] },
  delivery: { forbidden: ['auth', 'gateway', 'health', 'testing'] },
  auth: { forbidden: ['delivery', 'gateway', 'health', 'testing'] },
  health: { forbidden: ['gateway', 'testing'] },
  redis: { forbidden: folders.filter((f) => f !== 'redis' && f !== 'options') },
  // The queue service is infrastructure every feature may use; processors compose features.
  'jobs/realtime-jobs.service.ts': {
    forbidden: ['topics', 'registry', 'delivery', 'auth', 'gateway', 'health', 'testing'],
  },
  jobs: { forbidden: ['gateway', 'testing'] },
};
const layerZones = Object.entries(layerRules).flatMap(([target, { forbidden }]) =>
  forbidden.map((from) => ({
    target: `${lib}/${target}`,
    from: `${lib}/${from}`,
    except: from === 'auth' ? principal : [],
    message: `${target}/ must not import ${from}/ (docs/architecture.md, Layers).`,
  })),
);

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/**', 'tools/**', '*.js', '*.mjs'],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['libs/**/*.ts', 'src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            ...layerZones,
            {
              target: './libs/realtime-client/src',
              from: lib,
              except: ['./protocol', './delivery/event-map.ts'],
              message:
                'The client stays dependency-free: only protocol constants and EventMap types.',
            },
            {
              target: './src',
              from: lib,
              except: ['./index.ts'],
              message: 'The demo app imports only the barrel, @app/realtime.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', '**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
