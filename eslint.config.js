// Type-aware linting for the whole project (typescript-eslint's flat config), plus the
// house rules that keep the layers apart: only src/store/ speaks SQL, the domain and the
// wire schemas import no I/O, and nothing reads process.env outside src/config and main.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (files, patterns) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
      // Implementations of promise-returning interfaces (a memory bus, a memory store) are
      // async without awaiting anything; that is the point of them.
      '@typescript-eslint/require-await': 'off',
      // It calls assertions unnecessary that the compiler needs where a type is inferred
      // from context (a Fastify logger, a literal union), and its fix breaks the build.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    // Tests read JSON replies and frames, which are `any` by nature; they assert on them.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  layer(['src/**/*.ts'], [
    { group: ['kysely', 'pg', '@electric-sql/pglite'], message: 'Only src/store/ talks to the database.' },
  ]),
  {
    files: ['src/store/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  layer(['src/domain/**/*.ts', 'src/schemas/**/*.ts'], [
    { group: ['kysely', 'pg', '@electric-sql/pglite', 'ioredis', 'nats', 'fastify', 'ws', 'node:*'], message: 'domain/ and schemas/ do no I/O.' },
    { group: ['../services/*', '../store/*', '../http/*', '../realtime/*', '../bus/*', '../presence/*'], message: 'domain/ and schemas/ depend on nothing else.' },
  ]),
  layer(['src/http/**/*.ts', 'src/realtime/**/*.ts'], [
    { group: ['kysely', 'pg', '@electric-sql/pglite'], message: 'Only src/store/ talks to the database.' },
    { group: ['../store/*', '../../store/*'], message: 'Transports call services, never the store.' },
  ]),
  layer(['src/services/**/*.ts'], [
    { group: ['kysely', 'pg', '@electric-sql/pglite'], message: 'Only src/store/ talks to the database.' },
    { group: ['../http/*', '../realtime/*'], message: 'Services know no transport.' },
  ]),
  {
    files: ['src/**/*.ts'],
    ignores: ['src/config/**', 'src/main.ts'],
    rules: { 'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Configuration comes from src/config.' }] },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
