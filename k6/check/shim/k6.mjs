// Stand-in for the k6 module under Node.js (k6/check): check() and sleep().
export const results = new Map(); // check name -> { passes, fails }

export function check(value, checks) {
  let all = true;
  for (const [name, predicate] of Object.entries(checks)) {
    let ok = false;
    try {
      ok = Boolean(predicate(value));
    } catch (e) {
      ok = false;
    }
    const entry = results.get(name) || { passes: 0, fails: 0 };
    entry[ok ? 'passes' : 'fails'] += 1;
    results.set(name, entry);
    all = all && ok;
  }
  return all;
}

export function sleep(seconds) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
}
