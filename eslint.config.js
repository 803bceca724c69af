// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'http/ui/dist/', '.lab/', 'bench/results/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/it return promises the runner itself tracks.
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['machines/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!xstate$|\\./)',
              message: 'machines/ are pure: they import only xstate and each other',
            },
          ],
        },
      ],
    },
  },
  // Imports point one way: cli -> http -> actors -> machines, adapters, config; lab/ and bench/
  // use the product, never the reverse; nothing but test/ imports test/. Relative imports only
  // cross folders, so a path climbing into a forbidden top-level folder is the whole check.
  .../** @type {[string[], string[], string[], string][]} */ ([
    [
      ['config/**/*.ts'],
      [],
      ['cli', 'http', 'actors', 'machines', 'adapters', 'lab', 'bench', 'test'],
      'config/ is the bottom layer: it imports only itself',
    ],
    [
      ['adapters/**/*.ts'],
      [],
      ['cli', 'http', 'actors', 'lab', 'bench', 'test'],
      'adapters/ never import actors/, http/, cli/ (nor lab/, bench/, test/)',
    ],
    [
      ['actors/**/*.ts'],
      [],
      ['cli', 'http', 'lab', 'bench', 'test'],
      'actors/ never import http/ or cli/ (nor lab/, bench/, test/)',
    ],
    [
      ['http/**/*.ts'],
      [],
      ['cli', 'lab', 'bench', 'test'],
      'http/ never imports cli/ (nor lab/, bench/, test/)',
    ],
    // `linkctl lab` is the lab's own command line: the one product file that drives lab/.
    [
      ['cli/**/*.ts'],
      ['cli/lab.ts'],
      ['lab', 'bench', 'test'],
      'cli/ never imports lab/, bench/ or test/ (only cli/lab.ts drives the lab)',
    ],
    [['cli/lab.ts'], [], ['bench', 'test'], 'cli/ never imports bench/ or test/'],
    [
      ['lab/**/*.ts'],
      [],
      ['cli', 'bench', 'test'],
      'lab/ uses the product below cli/ (cli/lab.ts imports lab/), never bench/ or test/',
    ],
    [['bench/**/*.ts'], [], ['test'], 'bench/ never imports test/ (shared harnesses live in lab/)'],
  ]).map(([files, ignores, forbidden, message]) => ({
    files,
    ignores,
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: `^(\\.\\./)+(${forbidden.join('|')})/`, message }] },
      ],
    },
  })),
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
