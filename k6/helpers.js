// Shared request helpers: JSON headers, the create body, and the checks of our response shapes.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';

import { BASE_URL } from './config.js';

// Valid checksummed account StrKeys (the chain fixtures' treasury and recipient).
export const SENDER = 'GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV';
export const RECIPIENT = 'GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA';

// Requests that did not get the expected status or shape (one sample per request).
export const errors = new Rate('fluxora_errors');

export const JSON_HEADERS = { 'Content-Type': 'application/json' };

// A valid create: 1000 units at 0.001 per second. Amounts are decimal strings (JSON numbers are
// refused with DECIMAL_INVALID_TYPE); startTime defaults to now and endTime to
// start + deposit / rate.
export function createBody() {
  return JSON.stringify({
    sender: SENDER,
    recipient: RECIPIENT,
    depositAmount: '1000',
    ratePerSecond: '0.001',
  });
}

function json(res) {
  try {
    return res.json();
  } catch (e) {
    return undefined;
  }
}

// Records the checks of one response and whether the request failed.
export function verify(res, name, status, shape) {
  const body = json(res);
  const ok = check(res, {
    [`${name}: status ${status}`]: (r) => r.status === status,
    [`${name}: body shape`]: () => body !== undefined && body !== null && shape(body, res),
  });
  errors.add(!ok);
  return body;
}

export function createStream(name) {
  const res = http.post(`${BASE_URL}/api/streams`, createBody(), {
    headers: JSON_HEADERS,
    tags: { name: name || 'POST /api/streams' },
  });
  return verify(
    res,
    'create',
    201,
    (b, r) =>
      typeof b.id === 'string' &&
      b.sender === SENDER &&
      b.recipient === RECIPIENT &&
      b.depositAmount === '1000.0000000' &&
      b.ratePerSecond === '0.0010000' &&
      b.status === 'active' &&
      r.headers['Location'] === `/api/streams/${b.id}`,
  );
}

// Creates `count` streams (in setup) and returns their ids; fails the run if the API refuses.
export function seedStreams(count) {
  const ids = [];
  for (let i = 0; i < count; i++) {
    const body = createStream('POST /api/streams (setup)');
    if (!body || typeof body.id !== 'string') {
      throw new Error(`setup: creating stream ${i + 1} of ${count} failed`);
    }
    ids.push(body.id);
  }
  return ids;
}
