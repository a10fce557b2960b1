// Base URL, profiles and thresholds of the k6 harness (design §10). The Rust harness
// (crates/fluxora-loadtest) has the same profiles, scenarios and thresholds.
//
// Environment (k6 run -e NAME=value):
//   BASE_URL      the service (default http://localhost:3000)
//   PROFILE       smoke | load | stress | soak (default smoke)
//   SCENARIO      health | list | get | create | mixed (default mixed)
//   DURATION      how long the profile holds its VUs (default: the profile's)
//   SEED_STREAMS  streams created in setup() for list, get and mixed (default 100)
//   THINK_TIME    seconds each VU sleeps between iterations (default 0)

export const BASE_URL = (__ENV.BASE_URL || 'http://localhost:3000').replace(/\/+$/, '');
export const PROFILE = __ENV.PROFILE || 'smoke';
export const SCENARIO = __ENV.SCENARIO || 'mixed';
export const SEED_STREAMS = parseInt(__ENV.SEED_STREAMS || '100', 10);
export const THINK_TIME = parseFloat(__ENV.THINK_TIME || '0');

// smoke: 5 VUs; load: 50; stress: 200; soak: 30 VUs for 20 minutes. load and stress ramp up and
// down around the hold; DURATION replaces the hold (or the whole run for smoke and soak).
function hold(defaultDuration) {
  return __ENV.DURATION || defaultDuration;
}

export const PROFILES = {
  smoke: { executor: 'constant-vus', vus: 5, duration: hold('30s') },
  load: {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [
      { duration: '30s', target: 50 },
      { duration: hold('1m'), target: 50 },
      { duration: '30s', target: 0 },
    ],
    gracefulRampDown: '10s',
  },
  stress: {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [
      { duration: '1m', target: 200 },
      { duration: hold('2m'), target: 200 },
      { duration: '30s', target: 0 },
    ],
    gracefulRampDown: '10s',
  },
  soak: { executor: 'constant-vus', vus: 30, duration: hold('20m') },
};

// The prototype's thresholds: global p95 < 500 ms, p99 < 1 s, errors < 1 %. A breach makes
// `k6 run` exit non-zero. `checks` holds the response-shape checks of every scenario.
export const THRESHOLDS = {
  http_req_duration: ['p(95)<500', 'p(99)<1000'],
  http_req_failed: ['rate<0.01'],
  checks: ['rate>0.99'],
};

export const SCENARIOS = ['health', 'list', 'get', 'create', 'mixed'];

// The mixed scenario's weights, in percent (the Rust harness uses the same mix).
export const MIX = [
  ['health', 10],
  ['list', 20],
  ['get', 60],
  ['create', 10],
];

export function profileOptions(name) {
  const profile = PROFILES[name];
  if (!profile) {
    throw new Error(`unknown PROFILE ${name}: use ${Object.keys(PROFILES).join(', ')}`);
  }
  if (!SCENARIOS.includes(SCENARIO)) {
    throw new Error(`unknown SCENARIO ${SCENARIO}: use ${SCENARIOS.join(', ')}`);
  }
  return {
    scenarios: { [`${name}_${SCENARIO}`]: Object.assign({ exec: 'run' }, profile) },
    thresholds: THRESHOLDS,
    summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'],
    // Keep the setup's seeding out of the run's budget.
    setupTimeout: '120s',
  };
}
