// Module hooks mapping the k6 modules to the Node.js stand-ins in shim/.
const SHIMS = {
  k6: new URL('./shim/k6.mjs', import.meta.url).href,
  'k6/http': new URL('./shim/http.mjs', import.meta.url).href,
  'k6/metrics': new URL('./shim/metrics.mjs', import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  if (specifier in SHIMS) {
    return { url: SHIMS[specifier], shortCircuit: true };
  }
  return next(specifier, context);
}
