// This directory is the TypeScript SDK test package (see package.json), not
// Go code: this file keeps its node_modules (which hold Go files of their
// own) out of the main module's ./... patterns.
module devcluster.invalid/sdktests/typescript
