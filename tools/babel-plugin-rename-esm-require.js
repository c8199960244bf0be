/**
 * Some Nest 12 ESM files declare `const require = createRequire(import.meta.url)`.
 * Once babel turns their imports into require() calls, that local shadows the
 * real one and the module dies in its temporal dead zone. Renaming the local
 * first keeps both working. Used only by the Jest transform (jest.config.js).
 */
module.exports = function renameEsmRequire() {
  return {
    name: 'rename-esm-require',
    visitor: {
      Program(path) {
        if (path.scope.hasOwnBinding('require')) path.scope.rename('require', '__esmRequire');
      },
    },
  };
};
