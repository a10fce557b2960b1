// Stand-in for k6/http under Node.js (k6/check): synchronous requests through curl, with k6's
// response shape (status, body, headers with canonical names, json()).
import { spawnSync } from 'node:child_process';

export const requests = [];

function canonical(name) {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1).toLowerCase())
    .join('-');
}

function request(method, url, body, params) {
  const args = ['-s', '-i', '-X', method, url];
  for (const [name, value] of Object.entries((params && params.headers) || {})) {
    args.push('-H', `${name}: ${value}`);
  }
  if (body !== undefined && body !== null) {
    args.push('--data-binary', '@-');
  }
  const out = spawnSync('curl', args, { input: body || '', encoding: 'utf8' });
  if (out.status !== 0) {
    throw new Error(`curl ${method} ${url} failed: ${out.stderr}`);
  }
  const split = out.stdout.indexOf('\r\n\r\n');
  const head = out.stdout.slice(0, split).split('\r\n');
  const status = parseInt(head[0].split(' ')[1], 10);
  const headers = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    headers[canonical(line.slice(0, colon))] = line.slice(colon + 1).trim();
  }
  const text = out.stdout.slice(split + 4);
  const tags = (params && params.tags) || {};
  requests.push({ method, name: tags.name || url, status });
  return { status, body: text, headers, json: () => JSON.parse(text) };
}

export default {
  get: (url, params) => request('GET', url, null, params),
  post: (url, body, params) => request('POST', url, body, params),
};
