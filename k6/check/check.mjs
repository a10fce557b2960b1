// Runs the k6 scripts under Node.js against a live service, without k6: the options of every
// profile must build, setup() must seed, and ITERATIONS iterations of SCENARIO must pass every
// check of our response shapes. It checks the scripts, not performance. Usage (the service
// running; `node --import` loads the k6 stand-ins):
//
//   BASE_URL=http://127.0.0.1:3000 SCENARIO=mixed node --import ./k6/check/register.mjs k6/check/check.mjs
//
// k6/check/run.sh does it for every scenario.
globalThis.__ENV = { ...process.env };

const main = await import('../main.js');
const config = await import('../config.js');
const { results } = await import('k6');
const { requests } = await import('k6/http');

const failures = [];
for (const name of Object.keys(config.PROFILES)) {
  const options = config.profileOptions(name);
  const [scenario] = Object.values(options.scenarios);
  if (scenario.exec !== 'run' || typeof main[scenario.exec] !== 'function') {
    failures.push(`${name}: the scenario's exec is not an exported function`);
  }
  if (!['constant-vus', 'ramping-vus'].includes(scenario.executor)) {
    failures.push(`${name}: unexpected executor ${scenario.executor}`);
  }
  const vus = scenario.vus || Math.max(...scenario.stages.map((s) => s.target));
  const expected = { smoke: 5, load: 50, stress: 200, soak: 30 }[name];
  if (vus !== expected) {
    failures.push(`${name}: ${vus} VUs instead of ${expected}`);
  }
}
const [soak] = Object.values(config.profileOptions('soak').scenarios);
if (soak.duration !== (process.env.DURATION || '20m')) {
  failures.push(`soak: ${soak.duration} instead of 20 minutes`);
}

const data = main.setup();
const iterations = parseInt(process.env.ITERATIONS || '40', 10);
for (let i = 0; i < iterations; i++) {
  main.run(data);
}

for (const [name, { passes, fails }] of results) {
  console.log(`${fails === 0 ? 'ok  ' : 'FAIL'} ${name}: ${passes} passed, ${fails} failed`);
  if (fails > 0) failures.push(name);
}
const byName = new Map();
for (const r of requests) byName.set(r.name, (byName.get(r.name) || 0) + 1);
console.log(
  `${config.SCENARIO}: ${requests.length} requests (${[...byName].map(([n, c]) => `${n} ${c}`).join(', ')})`,
);
if (failures.length > 0) {
  console.error(`k6 scripts: ${failures.length} problem(s): ${failures.join('; ')}`);
  process.exit(1);
}
