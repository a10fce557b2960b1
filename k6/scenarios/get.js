// GET /api/streams/{id} of a stream created in setup().
import http from 'k6/http';

import { BASE_URL } from '../config.js';
import { verify } from '../helpers.js';

export function getStream(data) {
  const ids = data.ids;
  const id = ids[Math.floor(Math.random() * ids.length)];
  const res = http.get(`${BASE_URL}/api/streams/${id}`, {
    tags: { name: 'GET /api/streams/{id}' },
  });
  verify(
    res,
    'get',
    200,
    (b) =>
      b.id === id &&
      typeof b.depositAmount === 'string' &&
      typeof b.streamedAmount === 'string' &&
      typeof b.remainingAmount === 'string' &&
      ['active', 'paused', 'completed', 'cancelled'].includes(b.status),
  );
}
