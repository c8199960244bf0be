// Nest 12 ships ESM only and Jest on Node 20 cannot require() ESM, so the
// @nestjs packages go through babel-jest into CommonJS. The dynamic-import
// plugin is load-bearing: without it @nestjs/core never loads
// @nestjs/websockets and gateways silently fail to register (test/smoke pins it).
const nestToCommonJs = [
  'babel-jest',
  {
    babelrc: false,
    configFile: false,
    plugins: [
      require.resolve('./tools/babel-plugin-rename-esm-require.js'),
      'babel-plugin-transform-import-meta',
      '@babel/plugin-transform-dynamic-import',
      '@babel/plugin-transform-modules-commonjs',
    ],
  },
];

const shared = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    'node_modules/@nestjs/.+\\.js$': nestToCommonJs,
  },
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
  moduleNameMapper: {
    '^@nest-realtime/server$': '<rootDir>/libs/realtime/src',
    '^@nest-realtime/client$': '<rootDir>/libs/realtime-client/src',
    '^@nest-realtime/protocol$': '<rootDir>/libs/realtime-protocol/src',
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      roots: ['<rootDir>/libs', '<rootDir>/src', '<rootDir>/test/chaos'],
      testMatch: ['**/*.spec.ts'],
      globalSetup: '<rootDir>/test/unit-global-setup.ts',
    },
    {
      ...shared,
      displayName: 'e2e',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
    },
  ],
  // Real sockets and timers: more than the 5 s default (a global option; projects ignore it).
  testTimeout: 30_000,
  // Jest's default is one worker fewer than the cores: one on a 2-core machine. The suites mostly
  // wait (child processes, Redis restarts, timers: about half the wall time is idle CPU), so two
  // workers take about half the time there (334 s against 670 s, all green).
  maxWorkers: 2,
};
