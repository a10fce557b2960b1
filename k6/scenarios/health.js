// GET /health: the full report (a database round trip). 200 while ok or degraded.
import http from 'k6/http';

import { BASE_URL } from '../config.js';
import { verify } from '../helpers.js';

export function health() {
  const res = http.get(`${BASE_URL}/health`, { tags: { name: 'GET /health' } });
  verify(
    res,
    'health',
    200,
    (b) =>
      ['ok', 'degraded'].includes(b.status) &&
      b.service === 'fluxora-backend' &&
      b.database !== undefined &&
      b.database.status === 'ok',
  );
}
