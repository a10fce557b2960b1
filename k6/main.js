// k6 entry point: one scenario (SCENARIO, default mixed) under one profile (PROFILE, default
// smoke). See config.js for the environment variables.
//
//   k6 run k6/main.js
//   k6 run -e PROFILE=load -e SCENARIO=get -e BASE_URL=http://127.0.0.1:3000 k6/main.js
import { sleep } from 'k6';

import { MIX, PROFILE, SCENARIO, SEED_STREAMS, THINK_TIME, profileOptions } from './config.js';
import { seedStreams } from './helpers.js';
import { create } from './scenarios/create.js';
import { getStream } from './scenarios/get.js';
import { health } from './scenarios/health.js';
import { list } from './scenarios/list.js';

export const options = profileOptions(PROFILE);

const RUN = { health, list, get: getStream, create };

// list, get and mixed read streams: create them first (get needs at least one).
export function setup() {
  const needs = ['list', 'get', 'mixed'].includes(SCENARIO);
  const count = needs ? Math.max(SEED_STREAMS, SCENARIO === 'list' ? 0 : 1) : 0;
  return { ids: seedStreams(count) };
}

function pick() {
  let point = Math.random() * 100;
  for (const [name, weight] of MIX) {
    if (point < weight) {
      return name;
    }
    point -= weight;
  }
  return 'get';
}

export function run(data) {
  const name = SCENARIO === 'mixed' ? pick() : SCENARIO;
  RUN[name](data);
  if (THINK_TIME > 0) {
    sleep(THINK_TIME);
  }
}

export default run;
