/**
 * Importing this first makes `require('vscode')` load the fake in `vscode.ts` (the real module exists only
 * inside VS Code's extension host).
 */

import * as nodeModule from 'node:module';

type Resolve = (request: string, ...rest: unknown[]) => string;

const moduleWithResolver = nodeModule as unknown as { _resolveFilename: Resolve };
const resolve = moduleWithResolver._resolveFilename;
const fake = require.resolve('./vscode');

moduleWithResolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
    return request === 'vscode' ? fake : resolve.call(this, request, ...rest);
};
