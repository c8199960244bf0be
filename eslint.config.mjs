// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import socketOwner from './tools/eslint-socket-owner.mjs';

const lib = './libs/realtime/src';
const folders = [
  'protocol',
  'framing',
  'options',
  'topics',
  'registry',
  'engine',
  'transport',
  'delivery',
  'auth',
  'gateway',
  'health',
  'metrics',
  'testing',
  'redis',
  'jobs',
  'presence',
];
/** Files a layer may import from a folder it must not otherwise import (docs/architecture.md). */
const allowed = {
  // `Principal` is a type every layer below auth/ may name.
  auth: ['./principal.ts'],
  // The policy types are part of the options.
  topics: ['./topic-policy.interface.ts'],
};
/** Everything but these folders. */
const allBut = (...kept) => folders.filter((f) => !kept.includes(f));

/**
 * The layers of docs/architecture.md: each folder and what it must not import.
 * Arrows point down: gateway → auth | delivery → registry | topics → transport | engine → protocol.
 */
const layerRules = {
  protocol: { forbidden: allBut('protocol') },
  // Server frames built once, as bytes: below the engine, which keeps them in history.
  framing: { forbidden: allBut('framing', 'protocol') },
  // Options are read by every layer; they import only the wire package and the policy types.
  options: { forbidden: allBut('options', 'protocol') },
  engine: {
    forbidden: [
      'topics',
      'registry',
      'transport',
      'delivery',
      'auth',
      'gateway',
      'health',
      'testing',
      'presence',
    ],
  },
  // The owner of a socket's bytes knows frames, not connections, topics or engines.
  transport: {
    forbidden: [
      ...allBut('transport', 'framing', 'protocol', 'options', 'metrics'),
      'metrics/realtime-metrics.service.ts',
    ],
  },
  topics: { forbidden: allBut('topics', 'protocol', 'framing', 'options', 'engine') },
  registry: {
    forbidden: [
      'topics',
      'delivery',
      'auth',
      'gateway',
      'health',
      'metrics',
      'testing',
      'presence',
    ],
  },
  // The counters sit low (everything bumps them); the Prometheus service observes every layer.
  'metrics/realtime-counters.ts': {
    forbidden: [
      'topics',
      'transport',
      'delivery',
      'auth',
      'gateway',
      'health',
      'testing',
      'presence',
    ],
  },
  'metrics/realtime-metrics.service.ts': { forbidden: ['gateway', 'testing'] },
  delivery: { forbidden: ['auth', 'gateway', 'health', 'testing', 'presence'] },
  auth: { forbidden: ['delivery', 'gateway', 'health', 'testing', 'presence'] },
  // Presence sits beside delivery: it watches the registry and writes through the transport.
  presence: { forbidden: ['delivery', 'auth', 'gateway', 'health', 'testing'] },
  health: { forbidden: ['gateway', 'testing'] },
  redis: { forbidden: allBut('redis', 'options') },
  // The queue service is infrastructure every feature may use; processors compose features.
  'jobs/realtime-jobs.service.ts': {
    forbidden: [
      'topics',
      'registry',
      'delivery',
      'auth',
      'gateway',
      'health',
      'testing',
      'presence',
    ],
  },
  jobs: { forbidden: ['gateway', 'testing'] },
};
const layerZones = Object.entries(layerRules).flatMap(([target, { forbidden }]) =>
  forbidden.map((from) => ({
    target: `${lib}/${target}`,
    from: `${lib}/${from}`,
    except: allowed[from] ?? [],
    message: `${target}/ must not import ${from}/ (docs/architecture.md, Layers).`,
  })),
);

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/**',
      'tools/**',
      '*.js',
      '*.mjs',
    ],
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
              target: './libs/realtime-protocol/src',
              from: ['./libs/realtime', './libs/realtime-client', './src', './test'],
              message: 'The wire package imports nothing: server and client both import it.',
            },
            {
              target: './libs/realtime-client/src',
              from: ['./libs/realtime', './src'],
              message: 'The client knows the server only through the wire package.',
            },
            {
              target: './src',
              from: lib,
              except: ['./index.ts'],
              message: 'The demo app imports only the public face, @nest-realtime/server.',
            },
          ],
        },
      ],
    },
  },
  {
    // One owner of a socket's bytes: SocketWriter (docs/architecture.md).
    files: ['libs/realtime/src/**/*.ts'],
    ignores: [
      '**/*.spec.ts',
      'libs/realtime/src/transport/**',
      // HTTP sockets before any WebSocket exists: refused ones are destroyed, nothing is written.
      'libs/realtime/src/gateway/pending-sockets.ts',
      // The library's own Redis connections, not clients' sockets.
      'libs/realtime/src/redis/**',
    ],
    plugins: { realtime: socketOwner },
    rules: { 'realtime/socket-owner': 'error' },
  },
  {
    // The wire package is dependency-free (no Nest, no Node): a browser bundle and the server share it.
    files: ['libs/realtime-protocol/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^[^.]', message: 'The wire package imports only its own files.' }] },
      ],
    },
  },
  {
    files: ['libs/realtime-client/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\.|@nest-realtime/protocol$)',
              message: 'The client depends on nothing but the wire package.',
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
