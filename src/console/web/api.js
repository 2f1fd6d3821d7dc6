// The console's only way to the server: the public GraphQL API. The API key lives in
// this module's memory and nowhere else (ADR 015): not in a URL, a cookie or storage.

let key = null;
let socket = null;

export class ApiError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

export function signedIn() { return key !== null; }

export function signIn(secret) { key = secret; }

export function signOut() {
  key = null;
  if (socket) { socket.close(1000); socket = null; }
}

/// Runs a query or mutation; answers `data`, or throws an ApiError with the server's code.
export async function gql(query, variables = {}) {
  if (key === null) throw new ApiError('signed out', 'UNAUTHENTICATED');
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
    credentials: 'omit',
    cache: 'no-store',
  });
  let body;
  try { body = await response.json(); } catch { throw new ApiError(`HTTP ${response.status}`, 'HTTP'); }
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    throw new ApiError(e.message, e.extensions?.code ?? 'ERROR');
  }
  return body.data;
}

/// Follows a subscription over graphql-transport-ws, reconnecting after a drop;
/// `onEvent` gets each result's data, `onState` true when live and false when not.
export function live(query, onEvent, onState) {
  const secret = key;
  let retry = 500;
  const connect = () => {
    if (key !== secret) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/graphql`, 'graphql-transport-ws');
    socket = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${secret}` } }));
    ws.onmessage = m => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === 'connection_ack') {
        retry = 500;
        onState(true);
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
      } else if (msg.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      } else if (msg.type === 'next' && msg.payload?.data) {
        onEvent(msg.payload.data);
      }
    };
    ws.onclose = e => {
      onState(false);
      // 4403: the key was refused; retrying would only spend the failed-auth budget.
      if (key === secret && e.code !== 1000 && e.code !== 4403) {
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      }
    };
  };
  connect();
}
