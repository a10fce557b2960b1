// GET /api/streams?limit=20: the first page, newest first: {"streams":[…],"nextCursor","hasMore"}.
import http from 'k6/http';

import { BASE_URL } from '../config.js';
import { verify } from '../helpers.js';

export const LIST_LIMIT = 20;

export function list() {
  const res = http.get(`${BASE_URL}/api/streams?limit=${LIST_LIMIT}`, {
    tags: { name: 'GET /api/streams' },
  });
  verify(
    res,
    'list',
    200,
    (b) =>
      Array.isArray(b.streams) &&
      b.streams.length <= LIST_LIMIT &&
      typeof b.hasMore === 'boolean' &&
      'nextCursor' in b &&
      (b.nextCursor === null || typeof b.nextCursor === 'string') &&
      (b.hasMore === false || b.nextCursor !== null),
  );
}
