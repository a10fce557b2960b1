// POST /api/streams: a valid create, 201 with the stream and its Location.
import { createStream } from '../helpers.js';

export function create() {
  createStream();
}
