/**
 * The house's import rules, checked in CI (`npm run depcheck`):
 * - the kernel (src/platform) knows no domain: it imports no module folder, nor the composition
 *   root, the workers, the migrations, the tests or the benchmarks;
 * - module folders never import each other in a loop (a module may use another only if that one
 *   does not, directly or not, use it back), and no file imports itself back either;
 * - nothing in the product imports tests or benchmarks.
 * Type-only imports count: a loop of types is a loop of knowledge.
 */
module.exports = {
  forbidden: [
    {
      name: 'kernel-knows-no-domain',
      severity: 'error',
      comment: 'src/platform is the kernel: modules give it what it needs (descriptors), it never reaches for them.',
      from: { path: '^src/platform/' },
      to: { path: '^(src/(?!platform/)|workers/|migrations/|test/|bench/)' },
    },
    {
      name: 'no-module-loops',
      severity: 'error',
      comment: 'Folders under src/ (modules, access, the composition root) must not import each other in a loop.',
      scope: 'folder',
      from: { path: '^src/(?!platform(/|$))[^/]+' },
      to: { circular: true },
    },
    {
      name: 'no-file-loops',
      severity: 'error',
      from: { path: '^(src|workers)/' },
      to: { circular: true },
    },
    {
      name: 'product-ignores-tests',
      severity: 'error',
      from: { path: '^(src|workers|migrations)/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.json'] },
  },
};
