/**
 * CommonJS facts shared by the ESM and the CJS build. A `.cts` file always compiles to CommonJS
 * (`.cjs`), so `__dirname` and `require` exist here in both builds, and the rest of the SDK
 * needs no `import.meta` (which does not compile to CommonJS).
 *
 * @internal
 * @module
 */

/**
 * Directory of this compiled file: `dist/internal` (ESM build), `dist/cjs/internal` (CJS build)
 * or `ts/internal` (run from source with tsx).
 */
export const internalDir: string = __dirname;

/**
 * A plain CommonJS `require` (from `module.createRequire`), used to load `.node` addons and the
 * optional platform packages. Not this module's own `require`: when Node's ESM loader runs
 * CommonJS with loader hooks (a `.cts` file under tsx), that one cannot load JSON files.
 */
export const internalRequire: NodeJS.Require = (require('node:module') as typeof import('node:module')).createRequire(__filename);
