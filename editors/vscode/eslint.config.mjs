// ESLint for the extension: the recommended and type-checked rules of typescript-eslint, so that a promise
// nobody awaits or handles (a lost error in an event handler) fails `npm test`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
    { ignores: ['out/**', 'node_modules/**', 'eslint.config.mjs'] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            '@typescript-eslint/no-floating-promises': ['error', {
                // node:test's test() and describe() return promises the runner itself awaits.
                allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe'] }],
            }],
            '@typescript-eslint/no-misused-promises': 'error',
            '@typescript-eslint/switch-exhaustiveness-check': 'error',
            eqeqeq: 'error',
            curly: 'error',
        },
    },
    {
        // Tests hand fakes to code typed for VS Code's objects.
        files: ['test/**/*.ts'],
        rules: {
            '@typescript-eslint/no-unsafe-assignment': 'off',
            '@typescript-eslint/no-unsafe-member-access': 'off',
            '@typescript-eslint/no-non-null-assertion': 'off',
        },
    },
);
